import { expect, test } from "bun:test";
import { afterFailure, orderNames, renewalPlan } from "../../../../server/shared/tls/renewal.ts";
import { certificateRows } from "../../../../server/shared/tls/rows.ts";

const DAY = 86_400_000;
const now = new Date("2026-11-30T12:00:00Z");
const settings = {
  renewBeforeMs: 30 * DAY,
  warnBeforeMs: 14 * DAY,
  firstRetryMs: 300_000,
  maxRetryMs: 12 * 3_600_000,
};
const expiring = (days: number) => ({
  notAfter: new Date(now.getTime() + days * DAY).toISOString(),
});

test("a domain is issued for when it has no certificate or is inside renew_before", () => {
  const held = new Map([
    ["fresh.test", expiring(80)],
    ["due.test", expiring(29)],
  ]);
  const plan = renewalPlan(["new.test", "fresh.test", "due.test"], held, new Map(), now, settings);
  expect(plan.issue).toEqual([
    { domain: "new.test", why: "no certificate yet" },
    { domain: "due.test", why: `it expires ${expiring(29).notAfter}` },
  ]);
  expect(plan.warn).toEqual([]);
});

test("a failure waits a doubling time, capped, before the next try", () => {
  const first = afterFailure(undefined, "boom", now, settings);
  expect(first).toEqual({
    failures: 1,
    lastError: "boom",
    nextAttemptAt: "2026-11-30T12:05:00.000Z",
  });
  const third = afterFailure({ failures: 2 }, "boom", now, settings);
  expect(third.nextAttemptAt).toBe("2026-11-30T12:20:00.000Z");
  expect(afterFailure({ failures: 20 }, "boom", now, settings).nextAttemptAt).toBe(
    "2026-12-01T00:00:00.000Z",
  );
  const waiting = new Map([["due.test", first]]);
  const held = new Map([["due.test", expiring(20)]]);
  expect(renewalPlan(["due.test"], held, waiting, now, settings).issue).toEqual([]);
  const later = new Date(now.getTime() + 6 * 60_000);
  expect(renewalPlan(["due.test"], held, waiting, later, settings).issue).toHaveLength(1);
});

test("one order names the due domains and every held one not waiting out a failure", () => {
  const held = new Map([
    ["shop.test", expiring(20)],
    ["www.shop.test", expiring(80)],
    ["api.shop.test", expiring(80)],
  ]);
  const failed = afterFailure(undefined, "does not resolve", now, settings);
  const attempts = new Map([
    ["api.shop.test", failed],
    ["new.shop.test", failed],
  ]);
  const domains = ["shop.test", "www.shop.test", "api.shop.test", "new.shop.test", "x.test"];
  // api.shop.test and new.shop.test wait out their failures; x.test is neither held nor due
  expect(orderNames(domains, new Set(["shop.test"]), held, attempts, now)).toEqual([
    "shop.test",
    "www.shop.test",
  ]);
  // once the wait is over, the held one rides along again; a due one is asked for whatever
  const later = new Date(Date.parse(failed.nextAttemptAt as string) + 1);
  expect(orderNames(domains, new Set(["new.shop.test"]), held, attempts, later)).toEqual([
    "shop.test",
    "www.shop.test",
    "api.shop.test",
    "new.shop.test",
  ]);
  // a name asked for that the config does not list comes last
  expect(orderNames(["shop.test"], new Set(["other.test"]), held, new Map(), now)).toEqual([
    "shop.test",
    "other.test",
  ]);
  expect(orderNames(domains, new Set(), new Map(), new Map(), now)).toEqual([]);
});

test("a person hears once when renewal still fails inside warn_before", () => {
  const held = new Map([["late.test", expiring(10)]]);
  const failing = new Map([["late.test", { failures: 3 }]]);
  const plan = renewalPlan(["late.test"], held, failing, now, settings);
  expect(plan.warn).toEqual([
    { domain: "late.test", notAfter: expiring(10).notAfter, failures: 3 },
  ]);
  const warned = new Map([["late.test", { failures: 4, warnedFor: expiring(10).notAfter }]]);
  expect(renewalPlan(["late.test"], held, warned, now, settings).warn).toEqual([]);
  // not failing yet, or not that close: no mail
  expect(renewalPlan(["late.test"], held, new Map(), now, settings).warn).toEqual([]);
  const early = new Map([["late.test", expiring(20)]]);
  expect(renewalPlan(["late.test"], early, failing, now, settings).warn).toEqual([]);
});

test("the rows certs list and status print", () => {
  const held = new Map([
    [
      "shop.test",
      { cert: "", key: "", notAfter: expiring(45).notAfter, issuedAt: "", issuer: "CN=Pebble" },
    ],
  ]);
  const statuses = new Map([["www.shop.test", { failures: 2, lastError: "no answer" }]]);
  expect(certificateRows(["shop.test", "www.shop.test"], held, statuses, now)).toEqual([
    ["shop.test", "2027-01-14", "45", "CN=Pebble", "-"],
    ["www.shop.test", "none yet", "-", "-", "no answer (2×)"],
  ]);
});
