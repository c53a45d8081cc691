/**
 * What the test gate's sandbox costs each step: the same short command (`bun -e 0`) run
 * directly and inside the sandbox the gate uses (bubblewrap, then setpriv to the build user),
 * interleaved, medians. Needs root and the user dropship-build (scripts/bootstrap.sh).
 *
 *   bun bench/sandbox.ts [runs=21]
 */
import { chownSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { sandboxArgv } from "../pipeline/sandbox.ts";
import { cleanup, workDir } from "./lib.ts";

const runs = Number(process.argv[2] ?? 21);
try {
  const entry = Bun.spawnSync(["getent", "passwd", "dropship-build"]).stdout.toString().split(":");
  const user = { uid: Number(entry[2]), gid: Number(entry[3]) };
  if (!user.uid) throw new Error("no user dropship-build: run scripts/bootstrap.sh as root first");
  const workspace = join(workDir, "ws");
  mkdirSync(workspace, { recursive: true });
  chownSync(workspace, user.uid, user.gid);
  const argv = [process.execPath, "-e", "0"];
  const boxed = sandboxArgv({ argv, workspace, bun: process.execPath, user });
  const time = (command: string[]) => {
    const started = performance.now();
    const done = Bun.spawnSync(command, { cwd: workspace, stdout: "ignore", stderr: "pipe" });
    if (done.exitCode !== 0) throw new Error(`${command[0]} failed: ${done.stderr}`);
    return performance.now() - started;
  };
  const plain: number[] = [];
  const sandboxed: number[] = [];
  for (let i = 0; i < runs; i++) {
    plain.push(time(argv));
    sandboxed.push(time(boxed));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const [a, b] = [median(plain), median(sandboxed)];
  console.log(
    `bun -e 0, medians of ${runs} interleaved: directly ${a.toFixed(1)} ms, in the sandbox ${b.toFixed(1)} ms — ${(b - a).toFixed(1)} ms a step`,
  );
} finally {
  await cleanup();
}
