import { expect, test } from "bun:test";
import {
  describeLimits,
  sandboxArgv,
  stepEnvironment,
  stepLimits,
} from "../../pipeline/sandbox.ts";

const step = {
  argv: ["sh", "-c", "bun test"],
  workspace: "/srv/work/ws/master",
  bun: "/opt/bun/bin/bun",
  dependencies: "/srv/work/cache/0123/node_modules",
};
const LINKS: [string, string][] = [["usr/bin", "/bin"]];

const after = (argv: string[], flag: string) => argv[argv.indexOf(flag) + 1];

test("a step sees only an allow-listed environment with no secret in it", () => {
  expect(Object.keys(stepEnvironment(step)).sort()).toEqual([
    "CI",
    "HOME",
    "LANG",
    "PATH",
    "TMPDIR",
  ]);
  const argv = sandboxArgv(step, LINKS);
  expect(argv).toContain("--clearenv");
  const set = argv.flatMap((word, i) => (word === "--setenv" ? [argv[i + 1]] : []));
  expect(set.sort()).toEqual(["CI", "HOME", "LANG", "PATH", "TMPDIR"]);
});

test("as root: bubblewrap mounts, then setpriv becomes the build user with nothing kept", () => {
  const argv = sandboxArgv({ ...step, user: { uid: 999, gid: 995 } }, LINKS);
  expect(argv[0]).toBe("bwrap");
  expect(argv).not.toContain("--unshare-all"); // a user namespace would not map the build user
  for (const flag of ["--unshare-pid", "--unshare-ipc", "--unshare-net", "--die-with-parent"])
    expect(argv).toContain(flag);
  const become = argv.slice(argv.indexOf("setpriv"));
  expect(become.slice(0, 8)).toEqual([
    "setpriv",
    "--reuid=999",
    "--regid=995",
    "--clear-groups",
    "--inh-caps=-all",
    "--bounding-set=-all",
    "--no-new-privs",
    "--",
  ]);
  expect(become.slice(8)).toEqual(step.argv);
  expect(argv.indexOf("setpriv")).toBeGreaterThan(argv.indexOf("--clearenv"));
});

test("not root: a user namespace, and no setpriv", () => {
  const argv = sandboxArgv(step, LINKS);
  expect(argv.slice(0, 3)).toEqual(["bwrap", "--unshare-all", "--die-with-parent"]);
  expect(argv).not.toContain("setpriv");
});

test("writable: the workspace alone; the dependencies and the system read-only", () => {
  const argv = sandboxArgv(step, LINKS);
  const pairs = (flag: string) =>
    argv.flatMap((word, i) => (word === flag ? [`${argv[i + 1]} → ${argv[i + 2]}`] : []));
  expect(pairs("--bind")).toEqual([`${step.workspace} → ${step.workspace}`]);
  expect(pairs("--ro-bind")).toEqual([
    "/usr → /usr",
    `${step.bun} → ${step.bun}`,
    `${step.dependencies} → ${step.workspace}/node_modules`,
  ]);
  expect(after(argv, "--chdir")).toBe(step.workspace);
  expect(after(argv, "--tmpfs")).toBe("/tmp");
});

test("no step has a network; install gets the door's folder read-only, and no dependencies", () => {
  const door = "/srv/work/ws/master-door";
  for (const user of [undefined, { uid: 9, gid: 9 }]) {
    for (const shape of [step, { ...step, dependencies: undefined, door }]) {
      const argv = sandboxArgv({ ...shape, user }, LINKS);
      expect(argv).not.toContain("--share-net");
      expect(argv).toContain(user ? "--unshare-net" : "--unshare-all");
    }
  }
  const install = sandboxArgv({ ...step, dependencies: undefined, door }, LINKS);
  const at = install.indexOf(door);
  expect(install.slice(at - 1, at + 2)).toEqual(["--ro-bind", door, "/run/dropship-door"]);
  // bubblewrap would make /run 0700 and root's: the build user could not reach the socket
  expect(install.slice(at - 5, at - 1)).toEqual(["--perms", "0755", "--dir", "/run"]);
  expect(install.join(" ")).not.toContain("--ro-bind /srv/work/cache");
  expect(sandboxArgv(step, LINKS)).not.toContain("/run/dropship-door");
});

test("limits: prlimit as root before setpriv, so the build user can lower them but never raise them", () => {
  const limits = {
    memoryBytes: 512 * 1024 * 1024,
    processes: 1024,
    disk: { bytes: 2048 * 1024 * 1024, files: 5000 },
  };
  const argv = sandboxArgv({ ...step, user: { uid: 999, gid: 995 }, limits }, LINKS);
  const at = argv.indexOf("prlimit");
  expect(argv.slice(at, at + 5)).toEqual([
    "prlimit",
    "--nproc=1024",
    `--data=${512 * 1024 * 1024}`,
    `--fsize=${2048 * 1024 * 1024}`,
    "--",
  ]);
  expect(at).toBeGreaterThan(argv.indexOf("--clearenv"));
  expect(at).toBeLessThan(argv.indexOf("setpriv"));
  // /tmp is memory: bounded the same
  expect(argv.slice(argv.indexOf("--tmpfs") - 2, argv.indexOf("--tmpfs") + 2)).toEqual([
    "--size",
    String(512 * 1024 * 1024),
    "--tmpfs",
    "/tmp",
  ]);
  expect(sandboxArgv(step, LINKS)).not.toContain("prlimit");
});

test("step_memory auto is half the control host's memory, at least 256 MiB; a number is MiB", () => {
  const GIB = 1024 * 1024 * 1024;
  const disk = { bytes: 3 * GIB, files: 1000 };
  expect(stepLimits({ step_memory: "auto", step_processes: 1024 }, 2 * GIB, disk)).toEqual({
    memoryBytes: GIB,
    processes: 1024,
    disk,
  });
  expect(
    stepLimits({ step_memory: "auto", step_processes: 64 }, 0.25 * GIB, disk).memoryBytes,
  ).toBe(256 * 1024 * 1024);
  expect(stepLimits({ step_memory: 3000, step_processes: 64 }, 2 * GIB, disk).memoryBytes).toBe(
    3000 * 1024 * 1024,
  );
  expect(describeLimits({ memoryBytes: GIB, processes: 1024, disk }, 900_000)).toBe(
    "each step stopped after 15m; 1024 MiB a process; 1024 processes and threads; 3072 MiB and 1000 files in the workspace (pipeline/step_timeout, step_memory, step_processes, step_disk)",
  );
  expect(
    describeLimits({ memoryBytes: GIB, processes: 64, disk: { bytes: 64 * 1024 * 1024 } }, 60_000),
  ).toContain("; 64 MiB in the workspace (");
});
