import { existsSync, lstatSync, readlinkSync } from "node:fs";
import { dirname } from "node:path";
import { formatDuration } from "../server/shared/config/duration.ts";
import type { DiskLimits } from "./disk.ts";
import { DOOR_MOUNT } from "./install-door-rule.ts";

/**
 * The test gate's sandbox: each step of a pushed tree (install, check, test, build) runs as an
 * unprivileged build user, in its own user, mount, PID, IPC and network namespaces made by
 * bubblewrap. It sees the system's programs read-only, the workspace read-write, the
 * dependency cache read-only, and nothing else of this machine: not the receiver's
 * environment, its keys, `.dropship/`, the repositories or the other workspaces. No step has
 * a network: install reaches the configured registries through the install door alone.
 */
export interface SandboxStep {
  argv: string[];
  /** the workspace: the only place written, and the working directory */
  workspace: string;
  /** the Bun binary the steps run, bound read-only where it is */
  bun: string;
  /** mounted read-only at <workspace>/node_modules (for every step but install) */
  dependencies?: string;
  /**
   * install only: the install door's folder (install-door.ts), bound at DOOR_MOUNT — the one
   * way out of a sandbox with no network, to the registries pipeline/install_hosts names
   */
  door?: string;
  /** the build user to become (numeric: no passwd file is needed inside), when run as root */
  user?: { uid: number; gid: number };
  /** what the step's processes may take; none: as much as the receiver may */
  limits?: StepLimits;
  /** variables of the step's own, besides the sandbox's few (no secret ever goes here) */
  env?: Record<string, string>;
}

/** What pushed code may take of the control host, whatever it does. */
export interface StepLimits {
  /** memory each process may take (RLIMIT_DATA: past it an allocation fails), and /tmp may hold */
  memoryBytes: number;
  /** processes and threads of the step's user at once (RLIMIT_NPROC) */
  processes: number;
  /** what the workspace may hold; no one file larger than its bytes (RLIMIT_FSIZE) */
  disk: DiskLimits;
}

const MIB = 1024 * 1024;

/**
 * The limits a config asks for: `step_memory` in MiB, or `auto`, half the control host's
 * memory, so that one runaway process of a test cannot take the receiver down with it.
 */
export function stepLimits(
  pipeline: { step_memory: "auto" | number; step_processes: number },
  memoryBytes: number,
  disk: DiskLimits,
): StepLimits {
  const mib =
    pipeline.step_memory === "auto"
      ? Math.max(256, Math.floor(memoryBytes / 2 / MIB))
      : pipeline.step_memory;
  return { memoryBytes: mib * MIB, processes: pipeline.step_processes, disk };
}

/** The limits in a person's words, for the push's output. */
export function describeLimits(limits: StepLimits, timeoutMs: number): string {
  const { bytes, files } = limits.disk;
  const disk = `${Math.floor(bytes / MIB)} MiB${files === undefined ? "" : ` and ${files} files`} in the workspace`;
  return `each step stopped after ${formatDuration(timeoutMs)}; ${limits.memoryBytes / MIB} MiB a process; ${limits.processes} processes and threads; ${disk} (pipeline/step_timeout, step_memory, step_processes, step_disk)`;
}

/** prlimit's command line for the limits, set before the build user is become. */
export function prlimitArgv(limits: StepLimits): string[] {
  return [
    "prlimit",
    `--nproc=${limits.processes}`,
    `--data=${limits.memoryBytes}`,
    `--fsize=${limits.disk.bytes}`,
    "--",
  ];
}

/** The only variables a step sees. */
export function stepEnvironment(step: SandboxStep): Record<string, string> {
  return {
    PATH: `${step.workspace}/node_modules/.bin:${dirname(step.bun)}:/usr/local/bin:/usr/bin:/bin`,
    HOME: "/tmp/home",
    TMPDIR: "/tmp",
    CI: "true",
    LANG: "C.UTF-8",
    ...step.env,
  };
}

/** The top-level names that are links into /usr on a merged-/usr system, and where to. */
export function systemLinks(exists = existsSync): [string, string][] {
  return ["/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"]
    .filter((path) => exists(path) && lstatSync(path).isSymbolicLink())
    .map((path) => [readlinkSync(path), path]);
}

/** The command line that runs a step inside the sandbox. */
export function sandboxArgv(
  step: SandboxStep,
  links: [string, string][] = systemLinks(),
): string[] {
  // As root, bubblewrap makes the namespaces and mounts with root's rights, and setpriv then
  // becomes the build user with no capabilities left, for good (no_new_privs). Not root, the
  // receiver's own user is unprivileged already, and bubblewrap works in a user namespace.
  const namespaces = step.user
    ? ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try", "--unshare-net"]
    : ["--unshare-all"];
  const become = step.user
    ? [
        "setpriv",
        `--reuid=${step.user.uid}`,
        `--regid=${step.user.gid}`,
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
      ]
    : [];
  // prlimit runs with root's rights (or the receiver's), before setpriv takes them: the build
  // user can lower these limits but never raise them
  const limited = step.limits ? prlimitArgv(step.limits) : [];
  const env = Object.entries(stepEnvironment(step)).flatMap(([k, v]) => ["--setenv", k, v]);
  const etc = [
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/alternatives",
  ].flatMap((path) => ["--ro-bind-try", path, path]);
  return [
    "bwrap",
    ...namespaces,
    "--die-with-parent",
    "--new-session",
    "--ro-bind",
    "/usr",
    "/usr",
    ...links.flatMap(([target, path]) => ["--symlink", target, path]),
    "--perms",
    "0755",
    "--dir",
    "/etc",
    ...etc,
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    // /tmp and the home are the build user's to write, as on any system; /tmp is memory, so
    // it is bounded as a process is
    "--perms",
    "1777",
    ...(step.limits ? ["--size", String(step.limits.memoryBytes)] : []),
    "--tmpfs",
    "/tmp",
    "--perms",
    "1777",
    "--dir",
    "/tmp/home",
    // bubblewrap makes a mount point's missing parents 0700 and root's: the build user could
    // not reach its own workspace through them
    ...[...new Set([...ancestors(step.bun), ...ancestors(step.workspace)])]
      .filter((dir) => !SYSTEM_DIRS.has(dir))
      .flatMap((dir) => ["--perms", "0755", "--dir", dir]),
    "--ro-bind",
    step.bun,
    step.bun,
    "--bind",
    step.workspace,
    step.workspace,
    ...(step.dependencies
      ? ["--ro-bind", step.dependencies, `${step.workspace}/node_modules`]
      : []),
    ...(step.door ? ["--perms", "0755", "--dir", "/run", "--ro-bind", step.door, DOOR_MOUNT] : []),
    "--chdir",
    step.workspace,
    "--clearenv",
    ...env,
    "--",
    ...limited,
    ...become,
    ...step.argv,
  ];
}

/** Made by the sandbox itself, never again as a parent. */
const SYSTEM_DIRS = new Set(["/", "/tmp", "/usr", "/proc", "/dev", "/etc"]);

/** Every directory above a path, outermost first: /a/b/c → /a, /a/b. */
export function ancestors(path: string): string[] {
  const parts = path.split("/").filter(Boolean);
  return parts.slice(0, -1).map((_, i) => `/${parts.slice(0, i + 1).join("/")}`);
}
