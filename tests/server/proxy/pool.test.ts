import { expect, test } from "bun:test";
import { afterCheck, afterConnectionFailure, UNCHECKED } from "../../../server/proxy/health.ts";
import { Pool } from "../../../server/proxy/pool.ts";
import type { Backend } from "../../../server/shared/routing/model.ts";

const backend = (
  id: string,
  track: Backend["track"] = "production",
  draining = false,
): Backend => ({
  id,
  url: `http://${id}`,
  track,
  draining,
});

function healthyPool(backends: Backend[]) {
  const pool = new Pool();
  pool.setBackends(backends);
  for (const b of backends) pool.recordCheck(b.id, { ok: true, version: "v1" });
  return pool;
}

test("equal members take turns; a busier one is passed over", () => {
  const pool = healthyPool([backend("a"), backend("b"), backend("s", "staging")]);
  const picks = Array.from({ length: 6 }, () => pool.pick("production")?.backend.id);
  expect(picks.filter((id) => id === "a")).toHaveLength(3);
  expect(picks.filter((id) => id === "b")).toHaveLength(3);
  (pool.get("a") as { inFlight: number }).inFlight = 5;
  expect(Array.from({ length: 4 }, () => pool.pick("production")?.backend.id)).toEqual([
    "b",
    "b",
    "b",
    "b",
  ]);
  expect(pool.pick("staging")?.backend.id).toBe("s");
});

test("unchecked, unhealthy, draining and excluded members get nothing", () => {
  const pool = new Pool();
  pool.setBackends([backend("a"), backend("b"), backend("c", "production", true)]);
  expect(pool.pick("production")).toBeUndefined();
  pool.recordCheck("a", { ok: true, version: "" });
  pool.recordCheck("b", { ok: true, version: "" });
  pool.recordCheck("c", { ok: true, version: "" });
  pool.recordConnectionFailure("a", "refused");
  expect(pool.pick("production")?.backend.id).toBe("b");
  expect(pool.pick("production", new Set(["b"]))).toBeUndefined();
  expect(pool.available("production")).toBe(1);
});

test("a new table keeps the health of backends that stay", () => {
  const pool = healthyPool([backend("a"), backend("b")]);
  const added = pool.setBackends([backend("a"), backend("d")]);
  expect(added.map((m) => m.backend.id)).toEqual(["d"]);
  expect(pool.get("a")?.health.healthy).toBe(true);
  expect(pool.get("d")?.health.healthy).toBe(false);
  expect(pool.get("b")).toBeUndefined();
});

test("health: out after two failed checks or one failed connection, back after one success", () => {
  const up = afterCheck(UNCHECKED, { ok: true, version: "abc" });
  expect(up).toEqual({ healthy: true, failures: 0, reason: "", version: "abc" });
  const once = afterCheck(up, { ok: false, reason: "answered 500" });
  expect(once.healthy).toBe(true);
  const twice = afterCheck(once, { ok: false, reason: "answered 500" });
  expect(twice).toMatchObject({ healthy: false, reason: "answered 500" });
  expect(afterConnectionFailure(up, "refused")).toMatchObject({
    healthy: false,
    reason: "refused",
  });
  expect(afterCheck(twice, { ok: true, version: "abc" }).healthy).toBe(true);
});
