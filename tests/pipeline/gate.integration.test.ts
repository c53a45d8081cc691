import { expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GateError, MAX_LINE, runGate } from "../../pipeline/gate.ts";
import { fileTempDir } from "../helpers/tmp.ts";

// Pushed code that does not stop, eats memory or forks without end, run through the real gate:
// bubblewrap, the build user, prlimit. The receiver runs as root, as the suite does.
const dir = fileTempDir();
const repo = join(dir, "repo");
mkdirSync(join(repo, "scripts"), { recursive: true });
writeFileSync(join(repo, "package.json"), '{ "name": "pushed", "private": true }\n');
writeFileSync(join(repo, "bun.lock"), '{ "lockfileVersion": 1, "workspaces": { "": {} } }\n');
// what `bun run build` is in a real tree: here it only makes its output folder
writeFileSync(
  join(repo, "scripts/build.ts"),
  'import { mkdirSync } from "node:fs";\nmkdirSync(process.argv[3] as string, { recursive: true });\n',
);
const git = (...args: string[]) => {
  const run = Bun.spawnSync(["git", "-c", "user.name=t", "-c", "user.email=t@t", ...args], {
    cwd: repo,
    stderr: "pipe",
  });
  if (run.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${run.stderr}`);
  return run.stdout.toString().trim();
};
git("init", "-q");
git("add", ".");
git("commit", "-q", "-m", "pushed");
const commit = git("rev-parse", "HEAD");
// the lock file's dependencies (none) as the gate caches them, so no step needs the network
const lockHash = new Bun.CryptoHasher("sha256")
  .update(await Bun.file(join(repo, "bun.lock")).arrayBuffer())
  .digest("hex")
  .slice(0, 16);
mkdirSync(join(dir, "cache", lockHash, "node_modules"), { recursive: true });

const MIB = 1024 * 1024;
const LIMITS = { memoryBytes: 512 * MIB, processes: 1024 };

async function gate(testCommand: string, options: { timeoutMs?: number; limits?: typeof LIMITS }) {
  const said: string[] = [];
  let error: Error | undefined;
  try {
    await runGate({
      commit,
      repo,
      workspace: join(dir, "workspace"),
      cacheRoot: join(dir, "cache"),
      testCommand,
      say: (line) => said.push(line),
      stepTimeoutMs: options.timeoutMs ?? 60_000,
      limits: options.limits ?? LIMITS,
    });
  } catch (caught) {
    error = caught as Error;
  }
  return { said: said.join("\n"), error };
}

const running = (marker: string) => Bun.spawnSync(["pgrep", "-f", marker]).stdout.toString().trim();

test("a step still running at pipeline/step_timeout is stopped, every process in it, and the push rejected", async () => {
  // a test that never ends, with a child of its own that would outlive it
  const { said, error } = await gate("sleep 3131.5 & sleep 3131.5; echo done", {
    timeoutMs: 2_000,
  });
  expect(error).toBeInstanceOf(GateError);
  expect(error?.message).toBe(
    "test (sleep 3131.5 & sleep 3131.5; echo done) was still running after 2s (pipeline/step_timeout) and was stopped; make it finish sooner, or raise pipeline/step_timeout",
  );
  expect(said).toContain("▸ sandbox: each step stopped after 2s; 512 MiB a process");
  expect(said).not.toContain("\n    done");
  expect(running("sleep 3131.5")).toBe("");
});

test("a process of the pushed code that takes more than pipeline/step_memory fails, and only it", async () => {
  const eat = (mib: number) =>
    `${process.execPath} -e 'const b = new Uint8Array(${mib} * 1024 * 1024).fill(1); console.log("took", b.length >> 20, "MiB")'`;
  const over = await gate(eat(700), {});
  expect(over.error?.message).toStartWith(`test (${eat(700)}) failed (exit 1)`);
  expect(over.said).toContain("Out of memory");
  expect(over.said).not.toContain("took 700 MiB");
  // well under the limit the same test passes, and the gate goes on to the build (Bun
  // reserves ahead of use: it fills about half of a limit)
  const under = await gate(eat(100), {});
  expect(under.said).toContain("took 100 MiB");
  expect(under.error).toBeUndefined();
  expect(under.said).toContain("  build: ok");
});

test("/tmp in the sandbox holds no more than pipeline/step_memory", async () => {
  const { said } = await gate(
    "dd if=/dev/zero of=/tmp/fill bs=1M count=700 2>&1 | grep -E 'No space|copied'",
    {},
  );
  expect(said).toContain("No space left on device");
  expect(said).toContain(`${512 * MIB} bytes`);
});

test("pushed code that forks without end stops at pipeline/step_processes", async () => {
  const bomb = 'n=0; while [ $n -lt 400 ]; do sleep 4242.5 & n=$((n+1)); done; echo "started $n"';
  const { said, error } = await gate(bomb, { limits: { ...LIMITS, processes: 100 } });
  expect(error).toBeInstanceOf(GateError);
  expect(said).not.toContain("started 400");
  expect(said).toMatch(/Cannot fork|Resource temporarily unavailable/);
  // and none is left behind once the step is over
  expect(running("sleep 4242.5")).toBe("");
});

test("output with no line end is passed on in parts, never gathered whole", async () => {
  const { said, error } = await gate("head -c 1000000 /dev/zero | tr '\\0' x", {});
  expect(error).toBeUndefined();
  const parts = said.split("\n").filter((line) => line.startsWith("    x"));
  expect(parts.length).toBe(Math.ceil(1_000_000 / MAX_LINE));
  for (const part of parts) expect(part.length).toBeLessThanOrEqual(MAX_LINE + 4);
  expect(parts.join("").replaceAll(" ", "").length).toBe(1_000_000);
});
