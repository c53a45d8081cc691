import { expect, test } from "bun:test";
import { ErrorWindow, WindowTally } from "../../../../server/proxy/analysis.ts";
import { Metrics } from "../../../../server/proxy/metrics.ts";
import { Figures, workerCount } from "../../../../server/proxy/workers/figures.ts";

function workerMetrics(requests: number) {
  const m = new Metrics();
  for (let i = 0; i < requests; i++) m.record("production", "a:1", 200, 0.002);
  m.refused(400);
  return m.snapshot();
}

/** A worker's report of its tally alone. */
const tallyReport = (tally: WindowTally) => ({
  kind: "report" as const,
  metrics: new Metrics().snapshot(),
  inFlight: [],
  tally: tally.drain(),
  failures: [],
});

test("the host's metrics are the sum of its workers', and a worker that exits stays counted", () => {
  const combined = new Metrics();
  const figures = new Figures(combined, new ErrorWindow(30_000));
  const report = (requests: number) => ({
    kind: "report" as const,
    metrics: workerMetrics(requests),
    inFlight: [["a:1", requests % 3] as [string, number]],
    tally: [],
    failures: [],
  });
  figures.report(1, report(5));
  figures.report(2, report(7));
  expect(combined.totals().production.requests).toBe(12);
  expect(figures.inFlightOf("a:1")).toBe(2 + 1);
  figures.retire(1);
  expect(combined.totals().production.requests).toBe(12);
  expect(figures.inFlightOf("a:1")).toBe(1);
  // its successor starts from nothing
  figures.report(1, report(1));
  expect(combined.totals().production.requests).toBe(13);
  expect(
    combined.render({
      canaryWeight: 30,
      canaryBlocked: false,
      alerts: 0,
      stale: false,
      backends: [],
    }),
  ).toContain('dropship_proxy_refused_total{status="400"} 3');
  for (let i = 0; i < 20; i++) {
    figures.report(3, report(1));
    figures.retire(3);
  }
  expect(combined.totals().production.requests).toBe(33);
});

test("workers' tallies make one window: the per-visitor cap applies across workers", () => {
  const window = new ErrorWindow(30_000, 2);
  const figures = new Figures(new Metrics(), window);
  const now = 1_000_000;
  const a = new WindowTally();
  const b = new WindowTally();
  // one visitor's five errors, spread over two workers, count as two (the cap), then left out
  for (let i = 0; i < 3; i++) a.add("staging", true, now, "198.51.100.1");
  for (let i = 0; i < 2; i++) b.add("staging", true, now, "198.51.100.1");
  for (let i = 0; i < 4; i++) b.add("staging", false, now, `198.51.100.${10 + i}`);
  a.add("production", false, now);
  for (const [worker, tally] of [
    [1, a],
    [2, b],
  ] as const) {
    figures.report(worker, tallyReport(tally));
  }
  const totals = window.totals(now + 10);
  expect(totals.production).toEqual({ requests: 1, errors: 0, slow: 0 });
  expect(totals.staging).toEqual({ requests: 4, errors: 0, slow: 0 });
  expect(a.drain()).toEqual([]);
});

test("a report arriving after a reset brings back nothing from before it", () => {
  const window = new ErrorWindow(30_000);
  const before = Date.now() - 1500;
  window.reset();
  window.addReported("staging", 10, 10, before - (before % 1000), "v");
  expect(window.totals(Date.now()).staging.requests).toBe(0);
  const later = Date.now() + 2000;
  window.addReported("staging", 3, 1, later - (later % 1000), "v");
  expect(window.totals(later).staging).toEqual({ requests: 0, errors: 0, slow: 0 });
  window.addReported("staging", 3, 1, later - (later % 1000), "w");
  expect(window.totals(later).staging).toEqual({ requests: 3, errors: 1, slow: 0 });
});

test("auto is one worker per CPU; a number is taken as it is", () => {
  expect(workerCount("auto", 4)).toBe(4);
  expect(workerCount("auto", 0)).toBe(1);
  expect(workerCount(3, 8)).toBe(3);
});

test("the workers' slow answers reach the host's window, as their thresholds made them", () => {
  const window = new ErrorWindow(30_000, Number.POSITIVE_INFINITY, 200);
  const figures = new Figures(new Metrics(), window);
  const now = 2_000_000;
  const tally = new WindowTally(200);
  tally.add("staging", false, now, "198.51.100.1", 250);
  tally.add("staging", false, now, "198.51.100.2", 200);
  tally.add("staging", true, now, "198.51.100.3", 900);
  tally.add("production", false, now, "198.51.100.1", 201);
  tally.add("production", false, now, "198.51.100.2", 201);
  tally.add("production", false, now, "198.51.100.2", 100);
  figures.report(1, tallyReport(tally));
  const totals = window.totals(now + 10);
  // on each track the worst visitor (the most errors and slow answers) left out
  expect(totals.production).toEqual({ requests: 2, errors: 0, slow: 1 });
  expect(totals.staging).toEqual({ requests: 2, errors: 0, slow: 1 });
});

test("a worker's tally keeps each slot, track and visitor apart, however they interleave", () => {
  const tally = new WindowTally(100);
  const second = 3_000_000;
  tally.add("production", false, second + 10);
  tally.add("staging", true, second + 20, "198.51.100.1", 150);
  tally.add("production", true, second + 30, "198.51.100.1");
  tally.add("staging", false, second + 40, "198.51.100.2");
  tally.add("staging", false, second + 50, "198.51.100.1");
  tally.add("production", false, second + 1010, "", 101);
  tally.add("production", false, second + 60);
  expect(tally.drain()).toEqual([
    ["production", second, "", 2, 0, 0],
    ["staging", second, "198.51.100.1", 2, 1, 1],
    ["production", second, "198.51.100.1", 1, 1, 0],
    ["staging", second, "198.51.100.2", 1, 0, 0],
    ["production", second + 1000, "", 1, 0, 1],
  ]);
  // what was drained is not counted again: the next answer starts an entry of its own
  tally.add("production", false, second + 70);
  expect(tally.drain()).toEqual([["production", second, "", 1, 0, 0]]);
});
