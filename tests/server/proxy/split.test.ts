import { expect, test } from "bun:test";
import { canaryBlock, chooseTrack } from "../../../server/proxy/split.ts";
import type { Alert, Canary } from "../../../server/shared/routing/model.ts";

const canary = (weight: number, extra: Partial<Canary> = {}): Canary => ({
  weight,
  state: "active",
  reason: "",
  generation: "1",
  ...extra,
});
const ids = Array.from({ length: 10_000 }, (_, i) => `client-${i}`);
const stagingShare = (c: Canary) =>
  ids.filter((id) => chooseTrack(c, false, id) === "staging").length / ids.length;

test("the canary weight is the share of clients sent to staging", () => {
  expect(stagingShare(canary(30))).toBeGreaterThan(0.28);
  expect(stagingShare(canary(30))).toBeLessThan(0.32);
  expect(stagingShare(canary(0))).toBe(0);
  expect(stagingShare(canary(100))).toBe(1);
});

test("raising the weight only moves production clients to staging", () => {
  const at30 = new Set(ids.filter((id) => chooseTrack(canary(30), false, id) === "staging"));
  const at60 = new Set(ids.filter((id) => chooseTrack(canary(60), false, id) === "staging"));
  for (const id of at30) expect(at60.has(id)).toBe(true);
  expect(at60.size).toBeGreaterThan(at30.size);
});

test("a new canary generation draws a new set of clients", () => {
  const first = ids.filter((id) => chooseTrack(canary(30), false, id) === "staging");
  const second = new Set(
    ids.filter((id) => chooseTrack(canary(30, { generation: "2" }), false, id) === "staging"),
  );
  const overlap = first.filter((id) => second.has(id)).length / first.length;
  expect(overlap).toBeGreaterThan(0.2);
  expect(overlap).toBeLessThan(0.4);
});

test("while blocked, everyone goes to production", () => {
  expect(ids.slice(0, 500).every((id) => chooseTrack(canary(100), true, id) === "production")).toBe(
    true,
  );
});

test("the canary is blocked by an abort, a guarding alert or a zero weight, with the reason", () => {
  const alert: Alert = {
    id: "cpu:proxy-1",
    source: "proxy-1",
    role: "proxy",
    summary: "CPU 91% > 50%",
    since: "",
    canary: true,
  };
  expect(canaryBlock(canary(30), [])).toBeUndefined();
  expect(canaryBlock(canary(30, { state: "aborted", reason: "by ann" }), [])).toBe(
    "aborted: by ann",
  );
  expect(canaryBlock(canary(30), [alert])).toBe("alert cpu:proxy-1: CPU 91% > 50%");
  expect(canaryBlock(canary(30), [{ ...alert, canary: false }])).toBeUndefined();
  expect(canaryBlock(canary(0), [])).toBe("weight is 0");
});
