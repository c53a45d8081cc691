import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { isAlive, run } from "../shared/proc.ts";
import { EMULATOR } from "./this-network.ts";

/**
 * LXCFS (Debian's `lxcfs`), a FUSE file system that answers /proc/stat, meminfo, cpuinfo,
 * uptime and loadavg for the cgroup of whoever reads them. One runs per emulator, at its
 * network's place (one emulator per network); droplets bind its files over their /proc.
 */
export const LXCFS_DIR = EMULATOR.lxcfsDir;
const PIDFILE = EMULATOR.lxcfsPidFile;

export class Lxcfs {
  private process: ReturnType<typeof Bun.spawn> | undefined;

  /** Why LXCFS cannot run here, or undefined when it can. */
  static missing(): string | undefined {
    if (!existsSync("/dev/fuse")) return "no /dev/fuse (FUSE)";
    if (!Bun.which("lxcfs")) return "no lxcfs (Debian package lxcfs)";
    return undefined;
  }

  /** The /proc files as LXCFS answers them. */
  get procDir(): string {
    return join(LXCFS_DIR, "proc");
  }

  /** Starts LXCFS once an earlier emulator's is gone; answers when its files are there. */
  async start(logFile: string): Promise<void> {
    clearLeftover();
    mkdirSync(LXCFS_DIR, { recursive: true });
    // --enable-cfs: cpuinfo and stat show as many CPUs as the droplet's CPU quota allows
    this.process = Bun.spawn(
      [
        "lxcfs",
        "--foreground",
        "--enable-cfs",
        "--enable-loadavg",
        "--pidfile",
        PIDFILE,
        LXCFS_DIR,
      ],
      { stdin: "ignore", stdout: Bun.file(logFile), stderr: Bun.file(logFile) },
    );
    const deadline = Date.now() + 10_000;
    while (!existsSync(join(this.procDir, "meminfo"))) {
      if (this.process.exitCode !== null || Date.now() > deadline) {
        const log = existsSync(logFile)
          ? readFileSync(logFile, "utf8").trim().split("\n").slice(-2)
          : [];
        this.stop();
        throw new Error(`lxcfs did not start: ${log.join(" / ") || "no output"}`);
      }
      await Bun.sleep(20);
    }
  }

  /** Stops LXCFS and leaves no mount behind. */
  stop(): void {
    const child = this.process;
    this.process = undefined;
    if (child && child.exitCode === null) stopProcess(child.pid);
    unmount();
  }
}

/** Whether LXCFS's file system is mounted at its place. */
export function lxcfsMounted(): boolean {
  return readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .some((line) => line.split(" ")[1] === LXCFS_DIR);
}

/** An earlier emulator's LXCFS (it was killed, not stopped): its process and its mount. */
function clearLeftover(): void {
  if (existsSync(PIDFILE)) {
    const pid = Number(readFileSync(PIDFILE, "utf8").trim());
    if (pid > 0 && isAlive(pid) && commandOf(pid).includes("lxcfs")) stopProcess(pid);
  }
  unmount();
}

/** SIGTERM (LXCFS unmounts and exits, ~1.5 s), SIGKILL after 3 s. */
function stopProcess(pid: number): void {
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + 3_000;
  while (isAlive(pid) && Date.now() < deadline) Bun.sleepSync(20);
  if (isAlive(pid)) process.kill(pid, "SIGKILL");
}

function unmount(): void {
  // lazily: a droplet that still has the files bound holds the mount busy until it is gone
  if (lxcfsMounted()) run(["umount", "-l", LXCFS_DIR], { allowFailure: true });
  rmSync(PIDFILE, { force: true });
  try {
    rmdirSync(LXCFS_DIR);
  } catch {
    // not there, or something of an earlier run's still in it: the next start mounts over it
  }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return "";
  }
}
