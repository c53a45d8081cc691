import { expect, test } from "bun:test";
import { ErrorWindow, judge, perVisitorCap, WindowTally } from "../../../server/proxy/analysis.ts";

const settings = {
  windowMs: 10_000,
  minRequests: 20,
  maxErrorRateIncrease: 5,
  slowAfterMs: 0,
  maxSlowRateIncrease: 10,
};

test("the window counts requests and 5xx per track and forgets what is older than it", () => {
  const window = new ErrorWindow(10_000);
  const t0 = 1_000_000;
  // ten visitors; the one with the most errors is always left out of staging's totals
  for (let i = 0; i < 10; i++) window.add("staging", i < 3, t0 + i * 100, `198.51.100.${i}`);
  window.add("production", false, t0, "198.51.100.1");
  expect(window.totals(t0 + 1000)).toEqual({
    production: { requests: 1, errors: 0, slow: 0 },
    staging: { requests: 9, errors: 2, slow: 0 },
    stagingSeen: { requests: 10, addresses: 10, cap: Number.POSITIVE_INFINITY },
  });
  window.add("staging", true, t0 + 9_500, "a");
  window.add("staging", false, t0 + 9_500, "b");
  expect(window.totals(t0 + 10_500).staging).toEqual({ requests: 1, errors: 0, slow: 0 });
  expect(window.totals(t0 + 30_000).staging).toEqual({ requests: 0, errors: 0, slow: 0 });
});

test("no verdict before the minimum number of staging requests", () => {
  const verdict = judge(
    {
      production: { requests: 0, errors: 0, slow: 0 },
      staging: { requests: 19, errors: 19, slow: 0 },
    },
    settings,
  );
  expect(verdict.abort).toBe(false);
  expect(verdict.why).toBe("waiting: 19/20 staging requests");
});

test("a wait for traffic that staging had, from too few addresses to count, says so", () => {
  const window = new ErrorWindow(10_000, perVisitorCap(settings.minRequests));
  const t0 = 1_500_000;
  // a load test from one machine: thousands of answers, one address
  for (let i = 0; i < 3_000; i++) window.add("staging", i % 3 === 0, t0 + i, "198.51.100.7");
  const totals = window.totals(t0 + 5_000);
  expect(totals.staging.requests).toBe(0);
  expect(judge(totals, settings)).toEqual({
    abort: false,
    why: "waiting: 0/20 staging requests counted (3000 answered, from 1 address: each address counts for at most 4 and the worst IPv4 address and IPv6 /64 are left out)",
  });
  // a few more addresses: counted, still short of the minimum
  for (const visitor of ["203.0.113.1", "203.0.113.2"])
    for (let i = 0; i < 10; i++) window.add("staging", false, t0 + 6_000 + i, visitor);
  expect(judge(window.totals(t0 + 7_000), settings).why).toBe(
    "waiting: 8/20 staging requests counted (3020 answered, from 3 addresses: each address counts for at most 4 and the worst IPv4 address and IPv6 /64 are left out)",
  );
  // fewer answers than the minimum: too little traffic, the plain sentence, whatever is left out
  const fresh = new ErrorWindow(10_000, perVisitorCap(settings.minRequests));
  for (let i = 0; i < 5; i++) fresh.add("staging", i === 0, t0 + i, `203.0.113.${i}`);
  for (let i = 0; i < 10; i++) fresh.add("staging", false, t0 + i, "203.0.113.9");
  expect(judge(fresh.totals(t0 + 1_000), settings).why).toBe("waiting: 8/20 staging requests");
});

test("staging is aborted only when it is worse than production by more than the margin", () => {
  const worse = judge(
    {
      production: { requests: 100, errors: 1, slow: 0 },
      staging: { requests: 40, errors: 10, slow: 0 },
    },
    settings,
  );
  expect(worse.abort).toBe(true);
  expect(worse.why).toBe(
    "staging 5xx 25.0% of 40 vs production 1.0% of 100 (more than 5 points worse)",
  );
  const bothBad = judge(
    {
      production: { requests: 100, errors: 30, slow: 0 },
      staging: { requests: 40, errors: 12, slow: 0 },
    },
    settings,
  );
  expect(bothBad.abort).toBe(false);
  const within = judge(
    {
      production: { requests: 100, errors: 0, slow: 0 },
      staging: { requests: 100, errors: 5, slow: 0 },
    },
    settings,
  );
  expect(within.abort).toBe(false);
});

test("one visitor hammering staging with errors cannot carry the verdict", () => {
  const window = new ErrorWindow(10_000, perVisitorCap(settings.minRequests));
  const t0 = 2_000_000;
  // 40 ordinary visitors, one request each, all fine; one visitor sends 5,000 failing requests
  for (let i = 0; i < 40; i++) window.add("staging", false, t0 + i, `203.0.113.${i}`);
  for (let i = 0; i < 5_000; i++) window.add("staging", true, t0 + (i % 9_000), "198.51.100.66");
  for (let i = 0; i < 100; i++) window.add("production", false, t0 + i, `192.0.2.${i % 50}`);
  const totals = window.totals(t0 + 9_000);
  expect(totals.staging).toEqual({ requests: 40, errors: 0, slow: 0 });
  expect(judge(totals, settings).abort).toBe(false);
});

test("a client on IPv6 taking a new address from its /64 for each request is still one visitor", () => {
  const window = new ErrorWindow(10_000, perVisitorCap(settings.minRequests));
  const t0 = 2_500_000;
  for (let i = 0; i < 40; i++) window.add("staging", false, t0 + i, `203.0.113.${i}`);
  for (let i = 0; i < 5_000; i++)
    window.add("staging", true, t0 + (i % 9_000), `2001:db8:1:2::${i.toString(16)}`);
  for (let i = 0; i < 100; i++) window.add("production", false, t0 + i, `192.0.2.${i % 50}`);
  const totals = window.totals(t0 + 9_000);
  // its /64 counted as one visitor, the worst, and left out
  expect(totals.staging).toEqual({ requests: 40, errors: 0, slow: 0 });
  expect(totals.stagingSeen.addresses).toBe(41);
  expect(judge(totals, settings).abort).toBe(false);
  // a worker's tally reports it by its /64 too; IPv4 and IPv4-mapped addresses as themselves
  const tally = new WindowTally();
  tally.add("staging", true, t0, "2001:db8:1:2::a");
  tally.add("staging", true, t0, "2001:db8:1:2:ffff::b");
  tally.add("production", false, t0, "::ffff:198.51.100.4");
  tally.add("production", false, t0, "198.51.100.4");
  expect(tally.drain()).toEqual([
    ["staging", t0, "2001:db8:1:2::/64", 2, 2, 0],
    ["production", t0, "198.51.100.4", 2, 0, 0],
  ]);
});

test("two visitors at the cap cannot abort a canary that serves everyone else", () => {
  const cap = perVisitorCap(settings.minRequests);
  expect(cap).toBe(4);
  const window = new ErrorWindow(10_000, cap);
  const t0 = 3_000_000;
  for (let i = 0; i < 200; i++) window.add("staging", false, t0 + i, `203.0.113.${i % 100}`);
  for (const attacker of ["198.51.100.1", "198.51.100.2"]) {
    for (let i = 0; i < 1_000; i++) window.add("staging", true, t0 + i, attacker);
  }
  const totals = window.totals(t0 + 5_000);
  // the worst is left out, the other counts for at most `cap` requests
  expect(totals.staging).toEqual({ requests: 200 + cap, errors: cap, slow: 0 });
  expect(judge(totals, settings).abort).toBe(false);
});

test("one person hammering over IPv4 and IPv6 at once (dual stack) is left out on both", () => {
  const cap = perVisitorCap(settings.minRequests);
  const window = new ErrorWindow(10_000, cap);
  const t0 = 3_200_000;
  for (let i = 0; i < 40; i++) window.add("staging", false, t0 + i, `203.0.113.${i}`);
  for (let i = 0; i < 100; i++) window.add("production", false, t0 + i, `192.0.2.${i % 50}`);
  for (let i = 0; i < 1_000; i++) {
    window.add("staging", true, t0 + i, "198.51.100.66");
    window.add("staging", true, t0 + i, `2001:db8:66:1::${(i + 1).toString(16)}`);
  }
  const totals = window.totals(t0 + 5_000);
  // with only the one worst left out, its other address counted 4 errors in 44: 9.1%, aborted
  expect(totals.staging).toEqual({ requests: 40, errors: 0, slow: 0 });
  expect(judge(totals, settings).abort).toBe(false);
  // a release that fails for everyone is still aborted beside it
  for (let i = 0; i < 40; i++) window.add("staging", true, t0 + 100 + i, `203.0.113.${i}`);
  const failing = window.totals(t0 + 5_000);
  expect(failing.staging).toEqual({ requests: 80, errors: 40, slow: 0 });
  expect(judge(failing, settings).abort).toBe(true);
});

test("a busy visitor counts at the cap with its error rate kept: a canary within the margin is not aborted", () => {
  const window = new ErrorWindow(10_000, perVisitorCap(settings.minRequests));
  const t0 = 3_500_000;
  // ten busy visitors (an app polling, a shop's regulars), 300 answers each, 3% of them 5xx —
  // within the 5 points staging may be worse than production by
  for (let v = 0; v < 10; v++)
    for (let i = 0; i < 300; i++) window.add("staging", i % 100 < 3, t0 + i, `203.0.113.${v}`);
  for (let i = 0; i < 300; i++) window.add("production", false, t0 + i, `192.0.2.${i % 50}`);
  const totals = window.totals(t0 + 1_000);
  // each counts as 4 requests and 0.12 errors, and one of them is left out
  expect(totals.staging.requests).toBe(36);
  expect(totals.staging.errors).toBeCloseTo(1.08, 9);
  const verdict = judge(totals, settings);
  expect(verdict).toEqual({
    abort: false,
    why: "staging 5xx 3.0% of 36 vs production 0.0% of 200",
  });
  // the same visitors at 30% are aborted
  const failing = new ErrorWindow(10_000, perVisitorCap(settings.minRequests));
  for (let v = 0; v < 10; v++)
    for (let i = 0; i < 300; i++) failing.add("staging", i % 10 < 3, t0 + i, `203.0.113.${v}`);
  expect(judge(failing.totals(t0 + 1_000), settings).why).toBe(
    "staging 5xx 30.0% of 36 vs production 0.0% of 0 (more than 5 points worse)",
  );
});

test("one visitor hammering a failing path on production cannot shield a failing canary", () => {
  const window = new ErrorWindow(10_000, perVisitorCap(settings.minRequests));
  const t0 = 3_700_000;
  // staging fails a third of its answers, for 40 visitors
  for (let i = 0; i < 40; i++) window.add("staging", i % 3 === 0, t0 + i, `203.0.113.${i}`);
  // production serves 100 visitors well; one client sends it 5,000 requests that fail
  for (let i = 0; i < 100; i++) window.add("production", false, t0 + i, `192.0.2.${i}`);
  for (let i = 0; i < 5_000; i++) window.add("production", true, t0 + (i % 9_000), "198.51.100.9");
  const totals = window.totals(t0 + 1_000);
  // counted as at most 4 requests, and left out as production's worst
  expect(totals.production).toEqual({ requests: 100, errors: 0, slow: 0 });
  const verdict = judge(totals, settings);
  expect(verdict.abort).toBe(true);
  expect(verdict.why).toStartWith("staging 5xx 33.3% of 39 vs production 0.0% of 100");
  // two such clients: the one not left out counts as 4 requests, 4 errors
  for (let i = 0; i < 5_000; i++) window.add("production", true, t0 + (i % 9_000), "198.51.100.10");
  expect(window.totals(t0 + 1_000).production).toEqual({ requests: 104, errors: 4, slow: 0 });
  expect(judge(window.totals(t0 + 1_000), settings).abort).toBe(true);
});

test("a release that fails for everyone is still aborted", () => {
  const window = new ErrorWindow(10_000, perVisitorCap(settings.minRequests));
  const t0 = 4_000_000;
  for (let i = 0; i < 60; i++) window.add("staging", i % 2 === 0, t0 + i, `203.0.113.${i}`);
  for (let i = 0; i < 100; i++) window.add("production", false, t0 + i, `192.0.2.${i}`);
  const verdict = judge(window.totals(t0 + 1_000), settings);
  expect(verdict.abort).toBe(true);
  expect(verdict.why).toStartWith("staging 5xx 49.2% of 59");
});

test("a flood of distinct visitors is bounded in memory and still counted", () => {
  const window = new ErrorWindow(2_000, 10);
  const t0 = 5_000_000;
  for (let i = 0; i < 20_000; i++) window.add("staging", false, t0, `v${i}`);
  expect(window.totals(t0 + 10).staging.requests).toBe(20_000);
});

test("with slow_after, staging is aborted when more of its answers are slow than production's by more than the margin", () => {
  const slowSettings = { ...settings, slowAfterMs: 500 };
  const window = new ErrorWindow(10_000, perVisitorCap(settings.minRequests), 500);
  const t0 = 6_000_000;
  // production: 100 visitors, 2 of them slow; staging: 40 visitors, every fourth slow
  for (let i = 0; i < 100; i++)
    window.add("production", false, t0 + i, `192.0.2.${i}`, i < 2 ? 900 : 40);
  for (let i = 0; i < 40; i++)
    window.add("staging", false, t0 + i, `203.0.113.${i}`, i % 4 === 0 ? 501 : 500);
  const totals = window.totals(t0 + 1_000);
  // on each track the worst visitor (a slow one) left out
  expect(totals.production).toEqual({ requests: 99, errors: 0, slow: 1 });
  expect(totals.staging).toEqual({ requests: 39, errors: 0, slow: 9 });
  const verdict = judge(totals, slowSettings);
  expect(verdict).toEqual({
    abort: true,
    why: "staging slower than 500 ms 23.1% of 39 vs production 1.0% of 99 (more than 10 points worse)",
  });
  // the same answers judged without slow_after: speed is not judged
  expect(judge(totals, settings)).toEqual({
    abort: false,
    why: "staging 5xx 0.0% of 39 vs production 0.0% of 99",
  });
  // within the margin: not aborted, and the status says both
  const close = judge(
    {
      production: { requests: 100, errors: 0, slow: 20 },
      staging: { requests: 50, errors: 0, slow: 14 },
    },
    slowSettings,
  );
  expect(close).toEqual({
    abort: false,
    why: "staging 5xx 0.0% of 50 vs production 0.0% of 100; staging slower than 500 ms 28.0% of 50 vs production 20.0% of 100",
  });
});

test("one visitor hammering a slow path cannot carry the speed verdict either", () => {
  const window = new ErrorWindow(10_000, perVisitorCap(settings.minRequests), 500);
  const t0 = 7_000_000;
  for (let i = 0; i < 40; i++) window.add("staging", false, t0 + i, `203.0.113.${i}`, 30);
  for (let i = 0; i < 3_000; i++) window.add("staging", false, t0 + i, "198.51.100.66", 5_000);
  for (let i = 0; i < 100; i++) window.add("production", false, t0 + i, `192.0.2.${i}`, 30);
  const totals = window.totals(t0 + 5_000);
  expect(totals.staging).toEqual({ requests: 40, errors: 0, slow: 0 });
  expect(judge(totals, { ...settings, slowAfterMs: 500 }).abort).toBe(false);
});
