import type { Size } from "../shared/cloud/sizes.ts";
import { EMULATOR } from "./this-network.ts";

/**
 * What a droplet of a size may use on the emulator's machine, and how cgroup v1 and LXCFS say
 * it: plain data and plain functions; cgroups.ts and lxcfs.ts carry them out.
 */

/** The cgroup v1 controllers a droplet is limited and measured by. */
export const CONTROLLERS = ["cpu", "cpuacct", "cpuset", "memory", "pids"] as const;
export type Controller = (typeof CONTROLLERS)[number];

/**
 * LXCFS reads a process's CPU figures at the path of its cpuset cgroup, in the cpu and cpuacct
 * hierarchies too: these three must sit at the same path for /proc/stat to be the droplet's.
 */
export const SAME_PATH: readonly Controller[] = ["cpu", "cpuacct", "cpuset"];

/** The name of the folder the droplets' cgroups live in, under the emulator's own (one per network). */
export const CGROUP_FOLDER = EMULATOR.cgroupFolder;

/** The /proc files LXCFS answers per cgroup, bind-mounted over each droplet's own. */
export const LXCFS_PROC_FILES = ["stat", "meminfo", "cpuinfo", "uptime", "loadavg"] as const;

/** How often a bind of LXCFS's files is tried, 0.1 s apart, before the droplet's boot says it failed. */
export const LXCFS_BIND_TRIES = 50;

/**
 * The shell lines that put LXCFS's files (mounted at `lxcfsDir`) over a droplet's own /proc
 * files and its online CPUs (which LXCFS answers only where the kernel lets it). Each bind is
 * tried again for a while: once in a few hundred boots on a busy machine a droplet was left
 * seeing the machine's memory and CPUs, every figure at once.
 */
export function lxcfsMounts(lxcfsDir: string): string[] {
  const online = "sys/devices/system/cpu/online";
  return [
    "bind_lxcfs() {",
    "  tries=0",
    '  until out=$(mount --bind "$1" "$2" 2>&1); do',
    "    tries=$((tries + 1))",
    `    if [ "$tries" -ge ${LXCFS_BIND_TRIES} ]; then echo "emulated droplet: cannot bind $1 over $2: $out" >&2; return 1; fi`,
    "    sleep 0.1",
    "  done",
    '  if [ "$tries" -gt 0 ]; then echo "emulated droplet: $1 bound over $2 after $tries failed tries ($out)" >&2; fi',
    "}",
    ...LXCFS_PROC_FILES.map((f) => `bind_lxcfs ${lxcfsDir}/proc/${f} /proc/${f}`),
    `if [ -e ${lxcfsDir}/${online} ]; then bind_lxcfs ${lxcfsDir}/${online} /${online}; fi`,
  ];
}

const CFS_PERIOD_US = 100_000;
/** threads count against pids.max: a Bun process runs ~10-20, Ansible forks per task */
const PIDS_PER_VCPU = 1024;

export interface Limits {
  vcpus: number;
  memoryBytes: number;
  pids: number;
}

export function limitsFor(size: Pick<Size, "vcpus" | "memory">): Limits {
  return {
    vcpus: size.vcpus,
    memoryBytes: size.memory * 1024 * 1024,
    pids: PIDS_PER_VCPU * size.vcpus,
  };
}

/** The cgroup v1 files that put limits in force, in the order they are written. */
export function limitFiles(
  limits: Limits,
): { controller: Controller; file: string; value: string }[] {
  return [
    { controller: "cpu", file: "cpu.cfs_period_us", value: String(CFS_PERIOD_US) },
    { controller: "cpu", file: "cpu.cfs_quota_us", value: String(CFS_PERIOD_US * limits.vcpus) },
    { controller: "memory", file: "memory.limit_in_bytes", value: String(limits.memoryBytes) },
    // no swap for a droplet: past its memory a process is killed, as on DigitalOcean
    { controller: "memory", file: "memory.swappiness", value: "0" },
    { controller: "pids", file: "pids.max", value: String(limits.pids) },
  ];
}

/**
 * `/proc/self/cgroup` read into each v1 controller's path; a line may name several controllers
 * (`4:cpu,cpuacct:/x`). The v2 line (`0::/x`) has none and is left out.
 */
export function parseProcCgroup(text: string): Partial<Record<string, string>> {
  const paths: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (!match?.[1]) continue;
    for (const controller of match[1].split(",")) paths[controller] = match[2] as string;
  }
  return paths;
}

/** The folder of the droplets' cgroups in one controller's hierarchy, under the emulator's own. */
export function cgroupFolder(mount: string, base: string): string {
  return `${mount}${base === "/" ? "" : base}/${CGROUP_FOLDER}`;
}

/** Where a droplet's cgroup is in one controller's hierarchy. */
export function cgroupPath(mount: string, base: string, id: number): string {
  return `${cgroupFolder(mount, base)}/${id}`;
}

/**
 * The cgroup v1 hierarchies the machine mounts, from /proc/mounts: controller → mount point.
 * A hierarchy mounted with several controllers answers for each of them.
 */
export function v1Mounts(procMounts: string): Partial<Record<string, string>> {
  const mounts: Record<string, string> = {};
  for (const line of procMounts.split("\n")) {
    const [, point, type, options] = line.split(" ");
    if (type !== "cgroup" || !point || !options) continue;
    for (const option of options.split(",")) mounts[option] ??= point;
  }
  return mounts;
}

/**
 * The hierarchies without controllers in which a droplet's systemd (and nspawn, which boots it)
 * keeps track of processes: cgroup v1's `name=systemd` and, where the machine mounts one,
 * cgroup2 (nspawn puts the droplet in a `payload` cgroup under the one it starts in). Each
 * droplet gets a cgroup of its own in these too, or every droplet's services would share one
 * tree — a service's cgroup on one droplet holding another's processes, which its systemd
 * cannot see (cgroup2 shows them as pid 0: "Failed to kill control group …: Input/output error").
 */
export function trackingPlaces(procMounts: string, procSelfCgroup: string): Place[] {
  const places: Place[] = [];
  const named = v1Mounts(procMounts)["name=systemd"];
  const namedBase = parseProcCgroup(procSelfCgroup)["name=systemd"];
  if (named && namedBase !== undefined) places.push({ mount: named, base: namedBase });
  const v2Mount = cgroup2Mount(procMounts);
  const v2Base = /^0::(.*)$/m.exec(procSelfCgroup)?.[1];
  if (v2Mount && v2Base !== undefined) places.push({ mount: v2Mount, base: v2Base });
  return places;
}

/** Where the machine mounts cgroup2, from /proc/mounts, if it does. */
function cgroup2Mount(procMounts: string): string | undefined {
  return procMounts
    .split("\n")
    .map((line) => line.split(" "))
    .find((fields) => fields[2] === "cgroup2")?.[1];
}

/** Where a hierarchy is mounted and where the emulator's own cgroup is in it. */
export interface Place {
  mount: string;
  base: string;
}

/** Each controller's place. */
export type Places = Record<Controller, Place>;

/**
 * The hierarchies droplets can be limited in, from /proc/mounts and /proc/self/cgroup; or why
 * they cannot be (a message naming what is missing).
 */
export function placesFrom(procMounts: string, procSelfCgroup: string): Places | string {
  const mounts = v1Mounts(procMounts);
  const own = parseProcCgroup(procSelfCgroup);
  const missing = CONTROLLERS.filter((c) => !mounts[c] || own[c] === undefined);
  if (missing.length > 0) {
    const v2 = missing.length === CONTROLLERS.length && cgroup2Mount(procMounts) !== undefined;
    return `no cgroup v1 ${missing.join(", ")} controller${missing.length > 1 ? "s" : ""}${v2 ? " (cgroup v2 is mounted; the emulator drives v1 only)" : ""}`;
  }
  const places = Object.fromEntries(
    CONTROLLERS.map((c) => [c, { mount: mounts[c] as string, base: own[c] as string }]),
  ) as Places;
  const bases = new Set(SAME_PATH.map((c) => places[c].base));
  if (bases.size > 1)
    return `the emulator's cpu, cpuacct and cpuset cgroups differ (${[...bases].join(", ")}), so LXCFS could not show a droplet its own CPU`;
  return places;
}
