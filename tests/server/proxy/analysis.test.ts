import { expect, test } from "bun:test";
import { ErrorWindow, judge } from "../../../server/proxy/analysis.ts";

const settings = { windowMs: 10_000, minRequests: 20, maxErrorRateIncrease: 5 };

test("the window counts requests and 5xx per track and forgets what is older than it", () => {
  const window = new ErrorWindow(10_000);
  const t0 = 1_000_000;
  for (let i = 0; i < 10; i++) window.add("staging", i < 3, t0 + i * 100);
  window.add("production", false, t0);
  expect(window.totals(t0 + 1000)).toEqual({
    production: { requests: 1, errors: 0 },
    staging: { requests: 10, errors: 3 },
  });
  window.add("staging", true, t0 + 9_500);
  expect(window.totals(t0 + 10_500).staging).toEqual({ requests: 1, errors: 1 });
  expect(window.totals(t0 + 30_000).staging).toEqual({ requests: 0, errors: 0 });
});

test("no verdict before the minimum number of staging requests", () => {
  const verdict = judge(
    { production: { requests: 0, errors: 0 }, staging: { requests: 19, errors: 19 } },
    settings,
  );
  expect(verdict.abort).toBe(false);
  expect(verdict.why).toBe("waiting: 19/20 staging requests");
});

test("staging is aborted only when it is worse than production by more than the margin", () => {
  const worse = judge(
    { production: { requests: 100, errors: 1 }, staging: { requests: 40, errors: 10 } },
    settings,
  );
  expect(worse.abort).toBe(true);
  expect(worse.why).toBe(
    "staging 5xx 25.0% of 40 vs production 1.0% of 100 (more than 5 points worse)",
  );
  const bothBad = judge(
    { production: { requests: 100, errors: 30 }, staging: { requests: 40, errors: 12 } },
    settings,
  );
  expect(bothBad.abort).toBe(false);
  const within = judge(
    { production: { requests: 100, errors: 0 }, staging: { requests: 100, errors: 5 } },
    settings,
  );
  expect(within.abort).toBe(false);
});
