/**
 * What the canary analysis's counting adds to an answer: ErrorWindow.add (one proxy process)
 * and WindowTally.add (a worker, reported to the supervisor each second), per track, for one
 * kept-alive visitor and for 1 000 visitors whose answers interleave, in a window of 60 s with
 * the default per-visitor cap. With another checkout's path, its analysis.ts is measured in the
 * same run, round for round beside this one's. Then a flood: N new addresses a second on each
 * track for a whole window, and what the window holds then (heap) and what one read of it (the
 * analysis's, each second) takes.
 *
 *   bun bench/canary-window.ts [other-checkout] [answers=2000000]
 */
import { resolve } from "node:path";
import type { Track } from "../server/shared/routing/model.ts";

type Sink = { add(track: Track, isError: boolean, now: number, visitor?: string): void };
type Module = {
  ErrorWindow: new (windowMs: number, cap: number) => Sink & { totals(now: number): unknown };
  WindowTally: new () => Sink & { drain(): unknown[] };
};

const other = process.argv[2] && !/^\d+$/.test(process.argv[2]) ? process.argv[2] : undefined;
const answers = Number(process.argv[other ? 3 : 2] ?? 2_000_000);
const checkouts: [string, Module][] = [
  ["this checkout", (await import("../server/proxy/analysis.ts")) as unknown as Module],
];
if (other)
  checkouts.push([
    other,
    (await import(resolve(other, "server/proxy/analysis.ts"))) as unknown as Module,
  ]);

const many = Array.from({ length: 1000 }, (_, i) => `198.51.${i >> 8}.${i & 255}`);
const one = ["192.0.2.1"];

function nsPerAnswer(make: () => Sink, track: Track, visitors: string[]): number {
  const sink = make();
  const base = Date.now();
  const t0 = performance.now();
  for (let i = 0; i < answers; i++) {
    // 50 000 answers a second of the clock: a minute's window wraps, the tally drains each second
    const now = base + Math.floor(i / 50);
    sink.add(track, i % 50 === 0, now, visitors[i % visitors.length]);
    if (i % 50_000 === 49_999 && "drain" in sink) (sink as { drain(): unknown }).drain();
  }
  return ((performance.now() - t0) * 1e6) / answers;
}

const cases: [string, (m: Module) => () => Sink, Track, string[]][] = [
  [
    "ErrorWindow, production, 1 visitor",
    (m) => () => new m.ErrorWindow(60_000, 10),
    "production",
    one,
  ],
  [
    "ErrorWindow, production, 1 000 visitors",
    (m) => () => new m.ErrorWindow(60_000, 10),
    "production",
    many,
  ],
  [
    "ErrorWindow, staging, 1 000 visitors",
    (m) => () => new m.ErrorWindow(60_000, 10),
    "staging",
    many,
  ],
  ["WindowTally, production, 1 visitor", (m) => () => new m.WindowTally(), "production", one],
  ["WindowTally, production, 1 000 visitors", (m) => () => new m.WindowTally(), "production", many],
  ["WindowTally, staging, 1 000 visitors", (m) => () => new m.WindowTally(), "staging", many],
];

const rounds = 5;
const results = new Map<string, number[]>();
for (let round = 0; round < rounds; round++)
  for (const [name, make, track, visitors] of cases)
    for (const [label, module] of checkouts) {
      const key = `${name}|${label}`;
      results.set(key, [...(results.get(key) ?? []), nsPerAnswer(make(module), track, visitors)]);
    }
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[values.length >> 1] as number;
console.log(`| counting | ${checkouts.map(([label]) => `${label}, ns an answer`).join(" | ")} |`);
console.log(`|---|${checkouts.map(() => "---|").join("")}`);
for (const [name] of cases)
  console.log(
    `| ${name} | ${checkouts.map(([label]) => median(results.get(`${name}|${label}`) ?? []).toFixed(0)).join(" | ")} |`,
  );
console.log(`(medians of ${rounds} rounds of ${answers} answers)`);

/** The heap a window holds after a minute of `perSecond` new addresses on each track, and a read. */
function flood(module: Module, perSecond: number): { mb: number; readMs: number } {
  Bun.gc(true);
  const before = process.memoryUsage().heapUsed;
  const window = new module.ErrorWindow(60_000, 10);
  const base = 10_000_000;
  for (let second = 0; second < 60; second++)
    for (let v = 0; v < perSecond; v++) {
      const address = `10.${second}.${v >> 8}.${v & 255}`;
      window.add("production", false, base + second * 1000, address);
      window.add("staging", v % 7 === 0, base + second * 1000, address);
    }
  const t0 = performance.now();
  window.totals(base + 59_500);
  const readMs = performance.now() - t0;
  Bun.gc(true);
  const mb = (process.memoryUsage().heapUsed - before) / 1e6;
  return { mb, readMs };
}

console.log(
  `\n| new addresses a second, each track, for 60 s | ${checkouts.map(([label]) => `${label}: heap MB, one read ms`).join(" | ")} |`,
);
console.log(`|---|${checkouts.map(() => "---|").join("")}`);
for (const perSecond of [100, 1000, 6000])
  console.log(
    `| ${perSecond} | ${checkouts
      .map(([, module]) => {
        const { mb, readMs } = flood(module, perSecond);
        return `${mb.toFixed(1)}, ${readMs.toFixed(1)}`;
      })
      .join(" | ")} |`,
  );
