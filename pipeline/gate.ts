import { mkdirSync, renameSync, rmSync, utimesSync } from "node:fs";
import { dirname, join } from "node:path";
import { formatDuration } from "../server/shared/config/duration.ts";
import { releaseVersion } from "../server/shared/host/layout.ts";
import { BUILD_SERVERS_VARIABLE, SOURCES_FILE } from "../server/shared/platform.ts";
import { relayLines, run } from "../server/shared/proc.ts";
import { binaryOf, RELEASED } from "../server/shared/roles.ts";
import { type DiskLimits, watchDisk } from "./disk.ts";
import { openInstallDoor } from "./install-door.ts";
import { doorHosts } from "./install-door-rule.ts";
import { PushedFileError, plainFolder, plainIn, readPlain } from "./pushed-files.ts";
import { describeLimits, type StepLimits, sandboxArgv } from "./sandbox.ts";

const MIB = 1024 * 1024;

export interface GateOptions {
  commit: string;
  workspace: string;
  /** node_modules per lock file hash, kept between pushes */
  cacheRoot: string;
  testCommand: string;
  say: (line: string) => void;
  /** the unprivileged user the steps run as when the receiver is root (default dropship-build) */
  buildUser?: string;
  /** a step still running after this is stopped (pipeline.step_timeout) */
  stepTimeoutMs: number;
  /** what the pushed code's processes may take (pipeline.step_memory, step_processes) */
  limits: StepLimits;
  /** the registries the install may reach (pipeline.install_hosts: host or host:port) */
  installHosts: readonly string[];
  /** the repository the commit is in (default: the working directory, as in a git hook) */
  repo?: string;
}

/** The user pushed code runs as; scripts/bootstrap.sh makes it. */
export const BUILD_USER = "dropship-build";

export class GateError extends Error {
  override name = "GateError";
}

/**
 * The test gate: the pushed tree in a clean workspace, its dependencies from its lock file
 * (cached by the lock file's hash), its check and its test command, its binaries built and
 * stamped with the commit. Any failure is a GateError saying which step and why.
 */
export async function runGate(options: GateOptions): Promise<string[]> {
  const { workspace, say, limits } = options;
  const user = sandboxUser(options.buildUser ?? BUILD_USER);
  rmSync(workspace, { recursive: true, force: true });
  mkdirSync(workspace, { recursive: true });
  const step = (label: string, argv: string[], cwd: string) =>
    runStep(say, label, argv, cwd, {
      timeoutMs: options.stepTimeoutMs,
      workspace,
      disk: limits.disk,
    });
  say(`▸ sandbox: ${describeLimits(limits, options.stepTimeoutMs)}`);
  // a small push can unpack to a great deal (a file of zeros compresses 1000 to 1): the
  // checkout is held to the same disk limits as the steps
  await step(
    "checkout",
    [
      "prlimit",
      `--fsize=${limits.disk.bytes}`,
      "--",
      "sh",
      "-c",
      `git archive --format=tar ${options.commit} | tar -x -C ${workspace}`,
    ],
    options.repo ?? process.cwd(),
  );
  if (user) run(["chown", "-R", "-h", `${user.uid}:${user.gid}`, workspace]);
  const sandboxed = (
    argv: string[],
    door: string | undefined,
    dependencies?: string,
    env?: Record<string, string>,
  ) =>
    sandboxArgv({
      argv,
      workspace,
      bun: process.execPath,
      door,
      dependencies,
      user,
      limits,
      ...(env ? { env } : {}),
    });

  const { lockFile, lock } = inTree("install", () => {
    const lockFile = ["bun.lock", "package-lock.json"].find((name) => plainIn(workspace, name));
    if (!plainIn(workspace, "package.json") || !lockFile) {
      throw new GateError(
        "install: the pushed tree has no package.json with a lock file (bun.lock or package-lock.json); commit one so installs are reproducible",
      );
    }
    return { lockFile, lock: readPlain(workspace, lockFile, MAX_LOCK_FILE) };
  });
  const key = new Bun.CryptoHasher("sha256").update(lock).digest("hex").slice(0, 16);
  const cached = join(options.cacheRoot, key, "node_modules");
  let reusable = false;
  try {
    reusable = plainIn(options.cacheRoot, `${key}/node_modules`, "folder");
  } catch {
    // not a real folder (never made so by a gate): installed again
    rmSync(dirname(cached), { recursive: true, force: true });
  }
  if (reusable) {
    say("▸ install: cached");
    // used again: the last to be let go (pipeline/prune.ts keeps the few last used)
    const now = new Date();
    utimesSync(dirname(cached), now, now);
  } else {
    const frozen = lockFile.endsWith("bun.lock") ? ["--frozen-lockfile"] : [];
    // no network: the registries pipeline/install_hosts names, through the door, and nothing
    // else — the tree's own install scripts run in this step
    const door = await openInstallDoor(doorHosts(options.installHosts), say);
    try {
      await step(
        "install",
        sandboxed(
          door.wrap([process.execPath, "install", ...frozen]),
          door.dir,
          undefined,
          door.env,
        ),
        workspace,
      );
    } finally {
      await door.close();
    }
    mkdirSync(dirname(cached), { recursive: true });
    // a real folder (a tree with no dependencies may have none): never a link the tree made
    renameSync(
      inTree("install", () => plainFolder(workspace, "node_modules")),
      cached,
    );
    // the build user wrote it; from now on no push can change it, whatever its tests do
    if (user) run(["chown", "-R", "-h", "root:root", cached]);
  }
  const offline = (argv: string[], env?: Record<string, string>) =>
    sandboxed(argv, undefined, cached, env);
  const pkg = inTree("check", () => {
    const text = readPlain(workspace, "package.json", MAX_PACKAGE_JSON).toString("utf8");
    try {
      return JSON.parse(text) as { scripts?: Record<string, string> };
    } catch (error) {
      throw new PushedFileError(`package.json is not JSON (${(error as Error).message})`);
    }
  });
  if (pkg.scripts?.check)
    await step("check", offline([process.execPath, "run", "check"]), workspace);
  await step(
    `test (${options.testCommand})`,
    offline(["sh", "-c", options.testCommand]),
    workspace,
  );
  const version = releaseVersion(options.commit);
  // every host's servers (not the receiver, which runs here): a tree whose build script does
  // not read the variable builds them all, and the rest is left out below
  await step(
    "build",
    offline(
      [
        process.execPath,
        "scripts/build.ts",
        "--outdir",
        join(workspace, "dist"),
        "--version",
        version,
      ],
      { [BUILD_SERVERS_VARIABLE]: RELEASED.join(",") },
    ),
    workspace,
  );
  // and the digests that tell an upgrade what changed; the receiver copies them as root, so
  // each must be a plain file of the workspace (SHA256SUMS, copied beside them, too)
  return inTree("build", () => {
    if (!plainIn(workspace, "dist", "folder")) return [];
    plainIn(workspace, "dist/SHA256SUMS");
    return RELEASED.map(binaryOf)
      .concat(SOURCES_FILE)
      .filter((name) => plainIn(workspace, `dist/${name}`))
      .map((name) => join(workspace, "dist", name));
  });
}

/** The most of a lock file and of package.json the receiver reads. */
const MAX_LOCK_FILE = 64 * MIB;
const MAX_PACKAGE_JSON = MIB;

/** Work on the pushed tree's files, a refusal said as the step's. */
function inTree<T>(label: string, work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof PushedFileError) throw new GateError(`${label}: ${error.message}`);
    throw error;
  }
}

/**
 * Who the steps run as: the build user when the receiver is root (which must exist), else
 * the receiver's own unprivileged user. Either way inside bubblewrap, which must be there.
 */
function sandboxUser(buildUser: string): { uid: number; gid: number } | undefined {
  if (!Bun.which("bwrap"))
    throw new GateError(
      "sandbox: bubblewrap is not installed, and pushed code never runs outside it; apt-get install bubblewrap (scripts/bootstrap.sh does)",
    );
  if (process.getuid?.() !== 0) return undefined;
  const entry = Bun.spawnSync(["getent", "passwd", buildUser]).stdout.toString().split(":");
  const [uid, gid] = [Number(entry[2]), Number(entry[3])];
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid === 0)
    throw new GateError(
      `sandbox: the build user ${buildUser} does not exist, and pushed code never runs as root; useradd --system --no-create-home --shell /usr/sbin/nologin ${buildUser} (scripts/bootstrap.sh does)`,
    );
  return { uid, gid };
}

/** The longest line of a step's output passed on whole; a longer one goes on in parts. */
export const MAX_LINE = 16 * 1024;

interface StepBounds {
  timeoutMs: number;
  workspace: string;
  disk: DiskLimits;
}

async function runStep(
  say: (line: string) => void,
  label: string,
  argv: string[],
  cwd: string,
  bounds: StepBounds,
): Promise<void> {
  const started = performance.now();
  say(`▸ ${label}`);
  // the sandbox clears the environment itself; checkout needs git's own variables (in a
  // pre-receive hook the pushed objects are in quarantine, found through GIT_OBJECT_DIRECTORY)
  const git = Object.entries(process.env).filter(([name]) => name.startsWith("GIT_"));
  const child = Bun.spawn(argv, {
    cwd,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...Object.fromEntries(git) },
    stdout: "pipe",
    stderr: "pipe",
    // a group of its own, stopped whole: the checkout's git and tar with the shell that runs them
    detached: true,
  });
  const relay = (stream: ReadableStream<Uint8Array>) =>
    relayLines(stream, (line) => say(`    ${line}`), MAX_LINE);
  // killing bubblewrap ends the sandbox's PID namespace, and with it every process inside
  let stopped: string | undefined;
  const stop = (why: string) => {
    stopped ??= why;
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      child.kill("SIGKILL"); // the group is gone already
    }
  };
  const { timeoutMs, disk } = bounds;
  const timer = setTimeout(
    () =>
      stop(
        `${label} was still running after ${formatDuration(timeoutMs)} (pipeline/step_timeout) and was stopped; make it finish sooner, or raise pipeline/step_timeout`,
      ),
    timeoutMs,
  );
  const unwatch = await watchDisk(bounds.workspace, disk, (which) =>
    stop(
      which === "bytes"
        ? `${label} filled its workspace past ${Math.floor(disk.bytes / MIB)} MiB (pipeline/step_disk) and was stopped; write less there, or raise pipeline/step_disk`
        : `${label} made more than ${disk.files} files in its workspace (pipeline/step_disk) and was stopped; make fewer, or free inodes on the control host`,
    ),
  );
  try {
    await Promise.all([relay(child.stdout), relay(child.stderr)]);
    await child.exited;
  } finally {
    clearTimeout(timer);
    unwatch();
  }
  const code = child.exitCode;
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (stopped) throw new GateError(stopped);
  if (code !== 0) throw new GateError(`${label} failed (exit ${code}) after ${seconds} s`);
  say(`  ${label}: ok (${seconds} s)`);
}
