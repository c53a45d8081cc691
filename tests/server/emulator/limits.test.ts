import { expect, test } from "bun:test";
import {
  cgroupPath,
  limitFiles,
  limitsFor,
  parseProcCgroup,
  placesFrom,
  trackingPlaces,
  v1Mounts,
} from "../../../server/emulator/limits.ts";
import { SIZES } from "../../../server/shared/cloud/sizes.ts";

/** This machine's kind: every v1 controller on its own mount, and a cgroup2 beside them. */
const MOUNTS = `tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/cpuset cgroup rw,relatime,cpuset 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
`;
const OWN = `8:pids:/
4:memory:/jobs/abc
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`;

test("a size's limits: its vCPUs as a CFS quota, its memory with no swap, 1024 processes per vCPU", () => {
  const small = SIZES.find((s) => s.slug === "s-1vcpu-512mb-10gb");
  const big = SIZES.find((s) => s.slug === "s-4vcpu-8gb");
  expect(limitsFor(small as (typeof SIZES)[number])).toEqual({
    vcpus: 1,
    memoryBytes: 512 * 1024 * 1024,
    pids: 1024,
  });
  const files = limitFiles(limitsFor(big as (typeof SIZES)[number]));
  const value = (file: string) => files.find((f) => f.file === file)?.value;
  expect(value("cpu.cfs_period_us")).toBe("100000");
  expect(value("cpu.cfs_quota_us")).toBe("400000");
  expect(value("memory.limit_in_bytes")).toBe(String(8192 * 1024 * 1024));
  expect(value("memory.swappiness")).toBe("0");
  expect(value("pids.max")).toBe("4096");
  // the period is written before the quota it is measured against
  expect(files.findIndex((f) => f.file === "cpu.cfs_period_us")).toBeLessThan(
    files.findIndex((f) => f.file === "cpu.cfs_quota_us"),
  );
});

test("/proc/self/cgroup: each controller's path, also where one line names several", () => {
  expect(parseProcCgroup("4:cpu,cpuacct:/a/b\n3:memory:/\n0::/x\n")).toEqual({
    cpu: "/a/b",
    cpuacct: "/a/b",
    memory: "/",
  });
});

test("/proc/mounts: the v1 hierarchies by controller, a shared mount answering for each", () => {
  expect(v1Mounts("cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\n")).toEqual({
    rw: "/sys/fs/cgroup/cpu,cpuacct",
    cpu: "/sys/fs/cgroup/cpu,cpuacct",
    cpuacct: "/sys/fs/cgroup/cpu,cpuacct",
  });
});

test("a droplet's cgroups sit under the emulator's own, in every hierarchy", () => {
  const places = placesFrom(MOUNTS, OWN);
  if (typeof places === "string") throw new Error(places);
  expect(cgroupPath(places.memory.mount, places.memory.base, 7)).toBe(
    "/sys/fs/cgroup/memory/jobs/abc/dropship-emulator/7",
  );
  expect(cgroupPath(places.cpu.mount, places.cpu.base, 7)).toBe(
    "/sys/fs/cgroup/cpu/dropship-emulator/7",
  );
});

test("a machine without the v1 controllers is named as such, v2-only included", () => {
  const v2Only = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n";
  expect(placesFrom(v2Only, "0::/user.slice\n")).toBe(
    "no cgroup v1 cpu, cpuacct, cpuset, memory, pids controllers (cgroup v2 is mounted; the emulator drives v1 only)",
  );
  const noPids = MOUNTS.replace(/.*pids.*\n/, "");
  expect(placesFrom(noPids, OWN)).toBe("no cgroup v1 pids controller");
});

test("LXCFS needs the CPU hierarchies at one path: an emulator whose cpu and cpuset differ is told", () => {
  expect(placesFrom(MOUNTS, OWN.replace("1:cpu:/", "1:cpu:/other"))).toContain(
    "cpu, cpuacct and cpuset cgroups differ",
  );
});

test("the droplets get cgroups of their own where nspawn and systemd track processes too", () => {
  const hybrid = `${MOUNTS}cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,xattr,name=systemd 0 0\n`;
  const own = `9:name=systemd:/jobs/abc\n${OWN}`.replace("0::/\n", "0::/jobs/v2\n");
  expect(trackingPlaces(hybrid, own)).toEqual([
    { mount: "/sys/fs/cgroup/systemd", base: "/jobs/abc" },
    { mount: "/sys/fs/cgroup/unified", base: "/jobs/v2" },
  ]);
  // a machine with neither (or only one) has only what it has
  expect(trackingPlaces(MOUNTS.replace(/.*cgroup2.*\n/, ""), OWN)).toEqual([]);
  expect(trackingPlaces(MOUNTS, OWN)).toEqual([{ mount: "/sys/fs/cgroup/unified", base: "/" }]);
});
