import { describe, expect, test } from "bun:test";
import {
  bucketOf,
  type Flag,
  isEnabled,
  parseFlag,
  unknownFlagError,
} from "../../../../server/shared/flags/model.ts";
import { murmur3 } from "../../../../server/shared/flags/murmur3.ts";
import { FlagName, Rollout } from "../../../../server/shared/flags/schema.ts";
import { faultOf } from "../../../../server/shared/records/faults.ts";

const flag = (enabled: boolean, rollout: number): Flag => ({
  name: "newCheckout",
  enabled,
  rollout,
  version: 1,
  updatedAt: "",
  updatedBy: "",
});
const clients = Array.from({ length: 2000 }, (_, i) => `client-${i}`);

test("murmur3 matches the reference vectors", () => {
  expect(murmur3("")).toBe(0);
  expect(murmur3("", 1)).toBe(0x514e28b7);
  expect(murmur3("hello")).toBe(0x248bfa47);
  expect(murmur3("The quick brown fox jumps over the lazy dog")).toBe(0x2e4ff723);
  expect(murmur3("héllo")).toBe(murmur3("héllo"));
});

describe("evaluation", () => {
  test("off is off for everyone, on at 100% is on for everyone", () => {
    expect(clients.some((c) => isEnabled(flag(false, 100), c))).toBe(false);
    expect(clients.every((c) => isEnabled(flag(true, 100), c))).toBe(true);
    expect(isEnabled(flag(true, 100))).toBe(true);
    expect(isEnabled(undefined, "c")).toBe(false);
  });

  test("a partial rollout is sticky: the same client always gets the same answer", () => {
    const f = flag(true, 30);
    for (const client of clients.slice(0, 200)) {
      const first = isEnabled(f, client);
      for (let i = 0; i < 5; i++) expect(isEnabled(f, client)).toBe(first);
    }
  });

  test("a partial rollout reaches about its share of clients", () => {
    const on = clients.filter((c) => isEnabled(flag(true, 30), c)).length / clients.length;
    expect(on).toBeGreaterThan(0.26);
    expect(on).toBeLessThan(0.34);
  });

  test("raising the rollout only adds clients", () => {
    let previous = new Set<string>();
    for (const rollout of [0, 5, 10, 25, 50, 75, 99, 100]) {
      const now = new Set(clients.filter((c) => isEnabled(flag(true, rollout), c)));
      for (const client of previous) expect(now.has(client)).toBe(true);
      expect(now.size).toBeGreaterThanOrEqual(previous.size);
      previous = now;
    }
    expect(previous.size).toBe(clients.length);
  });

  test("each flag buckets clients on its own", () => {
    const a = clients.map((c) => bucketOf("a", c) < 50);
    const b = clients.map((c) => bucketOf("b", c) < 50);
    const same = a.filter((value, i) => value === b[i]).length / clients.length;
    expect(same).toBeGreaterThan(0.4);
    expect(same).toBeLessThan(0.6);
  });

  test("a partial rollout without a client id answers off", () => {
    expect(isEnabled(flag(true, 99))).toBe(false);
  });
});

describe("input", () => {
  test("flag names are letters, digits, dots, dashes, underscores", () => {
    const flagNameError = (name: string) => faultOf(FlagName, name, "flag name");
    expect(flagNameError("disableSET")).toBeUndefined();
    expect(flagNameError("checkout.v2-beta_1")).toBeUndefined();
    expect(flagNameError("9lives")).toContain("is not valid");
    expect(flagNameError("has space")).toContain("is not valid");
    expect(flagNameError("x".repeat(65))).toContain("is not valid");
  });

  test("rollouts are whole percentages", () => {
    const rolloutError = (rollout: unknown) => faultOf(Rollout, rollout, "rollout");
    expect(rolloutError(0)).toBeUndefined();
    expect(rolloutError(100)).toBeUndefined();
    expect(rolloutError(130)).toBe(
      "rollout 130 is not valid — give a whole percentage from 0 to 100",
    );
    expect(rolloutError(2.5)).toContain("is not valid");
    expect(rolloutError("50")).toContain("is not valid");
  });

  test("an unknown flag suggests the closest known one", () => {
    expect(unknownFlagError("disableSEt", ["disableSET", "other"])).toBe(
      "unknown flag disableSEt — did you mean disableSET? (--create makes a new one)",
    );
    expect(unknownFlagError("zzz", ["disableSET"])).toContain("known flags: disableSET");
  });

  test("a stored value that is not a flag is ignored", () => {
    expect(parseFlag("not json")).toBeUndefined();
    expect(parseFlag('{"name":"x"}')).toBeUndefined();
    expect(parseFlag(JSON.stringify(flag(true, 5)))?.rollout).toBe(5);
  });
});
