/**
 * What the install door costs a push: the gate's install of one commit's lock file (from the
 * real registry, into a fresh cache each time), run by this checkout's gate and by another
 * checkout's (one from before the door: `git worktree add /tmp/before 85ca740`), rounds
 * alternating, medians of the install step's own time. Needs root, dropship-build and the
 * registry (scripts/bootstrap.sh).
 *
 *   bun bench/install-door.ts OTHER_CHECKOUT [rounds=3] [commit=HEAD]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const other = resolve(process.argv[2] ?? "");
const rounds = Number(process.argv[3] ?? 3);
const here = resolve(import.meta.dir, "..");
const commit = Bun.spawnSync(["git", "rev-parse", process.argv[4] ?? "HEAD"], { cwd: here })
  .stdout.toString()
  .trim();
const MIB = 1024 * 1024;

async function installSeconds(root: string): Promise<number> {
  const { runGate } = await import(join(root, "pipeline/gate.ts"));
  const dir = mkdtempSync(join(tmpdir(), "bench-install-"));
  const said: string[] = [];
  try {
    // the test command fails: the gate stops after install and check, with nothing built
    await runGate({
      commit,
      repo: here,
      workspace: join(dir, "ws"),
      cacheRoot: join(dir, "cache"),
      testCommand: "false",
      say: (line: string) => said.push(line),
      stepTimeoutMs: 600_000,
      installHosts: ["registry.npmjs.org"],
      limits: { memoryBytes: 4096 * MIB, processes: 1024, disk: { bytes: 20_000 * MIB } },
    }).catch(() => {});
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const line = said.find((l) => l.startsWith("  install: ok ("));
  if (!line) throw new Error(`${root}: the install did not pass:\n${said.join("\n")}`);
  return Number(/\((\d+\.\d) s\)/.exec(line)?.[1]);
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};
const times: Record<string, number[]> = { [other]: [], [here]: [] };
for (let round = 0; round < rounds; round++) {
  for (const root of [other, here]) {
    const seconds = await installSeconds(root);
    times[root]?.push(seconds);
    console.log(`round ${round + 1}: ${root} ${seconds.toFixed(1)} s`);
  }
}
const [before, now] = [median(times[other] ?? []), median(times[here] ?? [])];
console.log(
  `install of ${commit.slice(0, 12)}'s lock file, medians of ${rounds}: ${other} ${before.toFixed(1)} s, ${here} ${now.toFixed(1)} s (${(now / before).toFixed(2)}×)`,
);
