/**
 * bun run demo, cold (dependencies installed, no droplet yet): the time from the command to
 * everything serving, with each step's share as the demo prints it, over a few rounds; each
 * round is torn down before the next. Needs root (the emulator).
 *
 *   bun bench/demo-start.ts [rounds=3]
 */
import { join } from "node:path";
import { cleanup, demoRunner, median, workDir } from "./lib.ts";

const rounds = Number(process.argv[2] ?? 3);
const { demo } = demoRunner(join(workDir, "demo"));
try {
  const totals: number[] = [];
  const steps = new Map<string, number[]>();
  for (let round = 1; round <= rounds; round++) {
    const started = performance.now();
    const up = demo(["--detach"]);
    const seconds = (performance.now() - started) / 1000;
    const out = up.stdout.toString();
    demo(["--down"]);
    if (up.exitCode !== 0) throw new Error(`the demo did not come up:\n${out}${up.stderr}`);
    totals.push(seconds);
    for (const [, name, s] of out.matchAll(/^▸ (.+?) \((\d+\.\d) s\)$/gm)) {
      const key = (name as string).replace(/[0-9a-f]{12}/g, "<commit>");
      steps.set(key, [...(steps.get(key) ?? []), Number(s)]);
    }
    console.log(`round ${round}: ${seconds.toFixed(1)} s to everything serving`);
  }
  console.log("\n| step | median |\n|---|---|");
  for (const [name, values] of steps) console.log(`| ${name} | ${median(values).toFixed(1)} s |`);
  console.log(`| **total (command → serving)** | **${median(totals).toFixed(1)} s** |`);
} finally {
  await cleanup();
}
