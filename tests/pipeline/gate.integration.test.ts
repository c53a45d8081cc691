import { expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { GateError, MAX_LINE, runGate } from "../../pipeline/gate.ts";
import { pushedRepo } from "../helpers/pushed-repo.ts";
import { fileTempDir } from "../helpers/tmp.ts";

// Pushed code that does not stop, eats memory or forks without end, run through the real gate:
// bubblewrap, the build user, prlimit. The receiver runs as root, as the suite does.
const dir = fileTempDir();
const repo = join(dir, "repo");
const { git, commit } = pushedRepo(
  repo,
  {
    "package.json": '{ "name": "pushed", "private": true }\n',
    "bun.lock": '{ "lockfileVersion": 1, "workspaces": { "": {} } }\n',
  },
  "pushed",
);
// the lock file's dependencies (none) as the gate caches them, so no step needs the network
const lockHash = new Bun.CryptoHasher("sha256")
  .update(await Bun.file(join(repo, "bun.lock")).arrayBuffer())
  .digest("hex")
  .slice(0, 16);
mkdirSync(join(dir, "cache", lockHash, "node_modules"), { recursive: true });

const MIB = 1024 * 1024;
const LIMITS = {
  memoryBytes: 512 * MIB,
  processes: 1024,
  disk: { bytes: 2048 * MIB, files: 100_000 } as { bytes: number; files?: number },
};

// a commit whose one file, 200 MiB of zeros, is a few hundred KiB in git: it unpacks to far more
writeFileSync(join(repo, "zeros"), new Uint8Array(200 * MIB));
git("add", "zeros");
git("commit", "-q", "-m", "a small push that unpacks big");
const unpacksBig = git("rev-parse", "HEAD");

async function gate(
  testCommand: string,
  options: { timeoutMs?: number; limits?: typeof LIMITS; commit?: string },
) {
  const said: string[] = [];
  let error: Error | undefined;
  let files: string[] = [];
  try {
    files = await runGate({
      commit: options.commit ?? commit,
      repo,
      workspace: join(dir, "workspace"),
      cacheRoot: join(dir, "cache"),
      testCommand,
      say: (line) => said.push(line),
      stepTimeoutMs: options.timeoutMs ?? 60_000,
      limits: options.limits ?? LIMITS,
      installHosts: [],
    });
  } catch (caught) {
    error = caught as Error;
  }
  return { said: said.join("\n"), error, files: files.map((file) => basename(file)) };
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

test("a step that fills its workspace past pipeline/step_disk is stopped, and the push rejected", async () => {
  // 4 MiB files, each well under the size one file may have, 160 MiB in all, then a long wait
  const fill =
    "i=0; while [ $i -lt 40 ]; do head -c 4194304 /dev/zero > f$i; i=$((i+1)); done; echo filled; sleep 3232.5";
  const limits = { ...LIMITS, disk: { bytes: 64 * MIB, files: 100_000 } };
  const started = performance.now();
  const { said, error } = await gate(fill, { limits });
  expect(error).toBeInstanceOf(GateError);
  expect(error?.message).toBe(
    `test (${fill}) filled its workspace past 64 MiB (pipeline/step_disk) and was stopped; write less there, or raise pipeline/step_disk`,
  );
  expect(said).toContain("; 64 MiB and 100000 files in the workspace (");
  // stopped by the watch, long before the step's timeout
  expect(performance.now() - started).toBeLessThan(30_000);
  expect(running("sleep 3232.5")).toBe("");
});

test("one file may not be larger than pipeline/step_disk: the write fails at once", async () => {
  const limits = { ...LIMITS, disk: { bytes: 64 * MIB } };
  // written to /tmp, which the same limit binds: in the workspace, the checkout beside a 64 MiB
  // file is past the limit, and the watch could stop the step before it ends (the test above)
  const { said, error } = await gate(
    "head -c 100000000 /dev/zero > /tmp/big; echo wrote $?; ls -l /tmp/big; rm /tmp/big",
    { limits },
  );
  expect(error).toBeUndefined();
  expect(said).toContain("File size limit exceeded");
  expect(said).not.toContain("wrote 0");
  expect(said).toContain(` ${64 * MIB} `);
});

test("a step that makes more files than its share of the free ones is stopped", async () => {
  const many =
    "mkdir many && cd many && i=0; while [ $i -lt 3000 ]; do : > f$i; i=$((i+1)); done; echo made; sleep 3333.5";
  const limits = { ...LIMITS, disk: { bytes: 2048 * MIB, files: 500 } };
  const { error } = await gate(many, { limits });
  expect(error?.message).toBe(
    `test (${many}) made more than 500 files in its workspace (pipeline/step_disk) and was stopped; make fewer, or free inodes on the control host`,
  );
  expect(running("sleep 3333.5")).toBe("");
});

test("a small push that unpacks past pipeline/step_disk fails its checkout", async () => {
  const limits = { ...LIMITS, disk: { bytes: 64 * MIB } };
  const { said, error } = await gate("true", { limits, commit: unpacksBig });
  // the file's size limit stops it, or, when the checkout is slow (a busy machine) and the
  // disk watch looks first (every 500 ms), the watch does: either way the push goes no further
  const stoppedBy = /^checkout failed/.test(error?.message ?? "")
    ? "fsize"
    : error?.message.startsWith("checkout filled its workspace past 64 MiB (pipeline/step_disk)")
      ? "watch"
      : (error?.message ?? "no error");
  expect(["fsize", "watch"]).toContain(stoppedBy);
  if (stoppedBy === "fsize") expect(said).toMatch(/File size limit exceeded|File too large/);
  expect(said).not.toContain("▸ test");
  // the same commit within a larger limit checks out and passes
  const roomy = await gate("test $(stat -c %s zeros) = 209715200", {
    commit: unpacksBig,
  });
  expect(roomy.error).toBeUndefined();
});

test("the build is asked for the servers a release carries, not the receiver", async () => {
  // a build script that makes what DROPSHIP_BUILD_SERVERS names, and nothing without it
  writeFileSync(
    join(repo, "scripts/build.ts"),
    'import { writeFileSync, mkdirSync } from "node:fs";\nconst out = process.argv[3] as string;\nmkdirSync(out, { recursive: true });\nfor (const name of (process.env.DROPSHIP_BUILD_SERVERS as string).split(",")) writeFileSync(out + "/dropship-" + name, "");\n',
  );
  git("commit", "-q", "-am", "a build that reads the servers asked for");
  const { error, files } = await gate("true", { commit: git("rev-parse", "HEAD") });
  expect(error).toBeUndefined();
  expect(files.sort()).toEqual(["dropship-app", "dropship-monitor", "dropship-proxy"]);
});

// A file of the control host a pushed tree might point at: the receiver must never read it
const secretFile = join(dir, "fleet.env");
writeFileSync(secretFile, "DIGITALOCEAN_TOKEN=dop_v1_not_for_pushers\n");

test("a package.json that is a link out of the tree is refused, and what it points at is not read", async () => {
  git("rm", "-q", "package.json");
  symlinkSync(secretFile, join(repo, "package.json"));
  git("add", "package.json");
  git("commit", "-q", "-m", "package.json points at the control host's secrets");
  const linked = git("rev-parse", "HEAD");
  // the tests after this one build on a plain package.json again, whatever this one found
  git("rm", "-q", "package.json");
  writeFileSync(join(repo, "package.json"), '{ "name": "pushed", "private": true }\n');
  git("add", "package.json");
  git("commit", "-q", "-m", "package.json a file again");
  const { said, error } = await gate("true", { commit: linked });
  expect(error?.message).toBe(
    "install: package.json is a symbolic link, not a file: the receiver reads the pushed tree as root and never follows a link out of it; make package.json a plain file",
  );
  expect(`${said}${error?.message}`).not.toContain("dop_v1");
  expect(said).not.toContain("▸ test");
});

test("a build that leaves a link, a FIFO or a linked dist is refused, and none of it handed on", async () => {
  const outside = join(dir, "outside");
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(outside, "dropship-app"), "not built by this push");
  const builds: [string, string][] = [
    [
      `symlinkSync(${JSON.stringify(secretFile)}, out + "/dropship-app");`,
      "build: dist/dropship-app is a symbolic link, not a file",
    ],
    [
      'Bun.spawnSync(["mkfifo", out + "/dropship-proxy"]);',
      "build: dist/dropship-proxy is a FIFO, not a file",
    ],
    [
      `rmSync(out, { recursive: true }); symlinkSync(${JSON.stringify(outside)}, out);`,
      "build: dist is a symbolic link, not a folder",
    ],
    [
      `symlinkSync(${JSON.stringify(secretFile)}, out + "/SHA256SUMS");`,
      "build: dist/SHA256SUMS is a symbolic link, not a file",
    ],
  ];
  for (const [line, refusal] of builds) {
    writeFileSync(
      join(repo, "scripts/build.ts"),
      `import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";\nconst out = process.argv[3] as string;\nmkdirSync(out, { recursive: true });\nwriteFileSync(out + "/dropship-monitor", "built");\n${line}\n`,
    );
    git("commit", "-q", "-am", `a build that leaves ${refusal}`);
    const { said, error, files } = await gate("true", { commit: git("rev-parse", "HEAD") });
    expect(said).toContain("  build: ok");
    expect(error?.message).toStartWith(refusal);
    expect(files).toEqual([]);
  }
});
