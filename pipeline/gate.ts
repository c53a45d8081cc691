import { existsSync, mkdirSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { releaseVersion } from "../server/shared/host/layout.ts";
import { SOURCES_FILE } from "../server/shared/platform.ts";
import { binaryOf, ROLES } from "../server/shared/roles.ts";

export interface GateOptions {
  commit: string;
  workspace: string;
  /** node_modules per lock file hash, kept between pushes */
  cacheRoot: string;
  testCommand: string;
  say: (line: string) => void;
}

export class GateError extends Error {
  override name = "GateError";
}

/**
 * The test gate: the pushed tree in a clean workspace, its dependencies from its lock file
 * (cached by the lock file's hash), its check and its test command, its binaries built and
 * stamped with the commit. Any failure is a GateError saying which step and why.
 */
export async function runGate(options: GateOptions): Promise<string[]> {
  const { workspace, say } = options;
  rmSync(workspace, { recursive: true, force: true });
  mkdirSync(workspace, { recursive: true });
  await step(
    say,
    "checkout",
    ["sh", "-c", `git archive --format=tar ${options.commit} | tar -x -C ${workspace}`],
    process.cwd(),
  );

  const lockFile = ["bun.lock", "package-lock.json"]
    .map((f) => join(workspace, f))
    .find(existsSync);
  if (!existsSync(join(workspace, "package.json")) || !lockFile) {
    throw new GateError(
      "install: the pushed tree has no package.json with a lock file (bun.lock or package-lock.json); commit one so installs are reproducible",
    );
  }
  const key = new Bun.CryptoHasher("sha256")
    .update(await Bun.file(lockFile).arrayBuffer())
    .digest("hex")
    .slice(0, 16);
  const cached = join(options.cacheRoot, key, "node_modules");
  if (existsSync(cached)) {
    symlinkSync(cached, join(workspace, "node_modules"));
    say("▸ install: cached");
  } else {
    const frozen = lockFile.endsWith("bun.lock") ? ["--frozen-lockfile"] : [];
    await step(say, "install", [process.execPath, "install", ...frozen], workspace);
    mkdirSync(dirname(cached), { recursive: true });
    renameSync(join(workspace, "node_modules"), cached);
    symlinkSync(cached, join(workspace, "node_modules"));
  }
  const pkg = (await Bun.file(join(workspace, "package.json")).json()) as {
    scripts?: Record<string, string>;
  };
  if (pkg.scripts?.check) await step(say, "check", [process.execPath, "run", "check"], workspace);
  await step(say, `test (${options.testCommand})`, ["sh", "-c", options.testCommand], workspace);
  const version = releaseVersion(options.commit);
  await step(
    say,
    "build",
    [
      process.execPath,
      "scripts/build.ts",
      "--outdir",
      join(workspace, "dist"),
      "--version",
      version,
    ],
    workspace,
  );
  // every host's servers and the digests that tell an upgrade what changed
  return [...new Set(Object.values(ROLES).flatMap((role) => role.services))]
    .map(binaryOf)
    .concat(SOURCES_FILE)
    .map((name) => join(workspace, "dist", name))
    .filter(existsSync);
}

async function step(
  say: (line: string) => void,
  label: string,
  argv: string[],
  cwd: string,
): Promise<void> {
  const started = performance.now();
  say(`▸ ${label}`);
  const bunDir = dirname(process.execPath);
  const child = Bun.spawn(argv, {
    cwd,
    env: {
      ...process.env,
      PATH: `${join(cwd, "node_modules/.bin")}:${bunDir}:${process.env.PATH}`,
      CI: "true",
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  const relay = async (stream: ReadableStream<Uint8Array>) => {
    let pending = "";
    for await (const chunk of stream) {
      pending += new TextDecoder().decode(chunk);
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) if (line.trim()) say(`    ${line}`);
    }
    if (pending.trim()) say(`    ${pending}`);
  };
  await Promise.all([relay(child.stdout), relay(child.stderr)]);
  const code = await child.exited;
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (code !== 0) throw new GateError(`${label} failed (exit ${code}) after ${seconds} s`);
  say(`  ${label}: ok (${seconds} s)`);
}
