/**
 * What the canary analysis's counting adds to an answer: ErrorWindow.add (one proxy process)
 * and WindowTally.add (a worker, reported to the supervisor each second), per track, for one
 * kept-alive visitor and for 1 000 visitors whose answers interleave, in a window of 60 s with
 * the default per-visitor cap. With another checkout's path, its analysis.ts is measured in the
 * same run, round for round beside this one's.
 *
 *   bun bench/canary-window.ts [other-checkout] [answers=2000000]
 */
import { resolve } from "node:path";
import type { Track } from "../server/shared/routing/model.ts";

type Sink = { add(track: Track, isError: boolean, now: number, visitor?: string): void };
type Module = {
  ErrorWindow: new (windowMs: number, cap: number) => Sink;
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
