import { expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LXCFS_PROC_FILES, lxcfsMounts } from "../../../server/emulator/limits.ts";
import { fileTempDir } from "../../helpers/tmp.ts";

// The boot's binds of LXCFS's files, run as a droplet runs them, in a mount namespace of the
// test's own (so binding over /proc/meminfo there changes nothing of this machine's).

/** Runs the bind script in a private mount namespace, then `after` there; its output. */
function bindsThenRun(lxcfsDir: string, before: string, after: string) {
  const script = `${before}\n${lxcfsMounts(lxcfsDir).join("\n")}\n${after}\n`;
  const ran = Bun.spawnSync(
    ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script],
    { stdout: "pipe", stderr: "pipe" },
  );
  return { code: ran.exitCode, out: ran.stdout.toString(), err: ran.stderr.toString() };
}

function fakeLxcfs(dir: string): string {
  mkdirSync(join(dir, "proc"), { recursive: true });
  for (const file of LXCFS_PROC_FILES)
    writeFileSync(join(dir, "proc", file), `${file} as LXCFS answers it\n`);
  return dir;
}

test("LXCFS's files are bound over /proc's, and a file that comes late is waited for", () => {
  const dir = fileTempDir("dropship-lxcfs-binds-");
  const lxcfs = fakeLxcfs(join(dir, "lxcfs"));
  // meminfo appears 0.3 s after the binds start, as a slow FUSE answer would
  const ran = bindsThenRun(
    lxcfs,
    `mv ${lxcfs}/proc/meminfo ${dir}/meminfo; (sleep 0.3; mv ${dir}/meminfo ${lxcfs}/proc/meminfo) &`,
    "cat /proc/stat /proc/meminfo /proc/loadavg",
  );
  expect(ran).toMatchObject({ code: 0 });
  expect(ran.out).toBe(
    "stat as LXCFS answers it\nmeminfo as LXCFS answers it\nloadavg as LXCFS answers it\n",
  );
  expect(ran.err).toMatch(
    new RegExp(
      `^emulated droplet: ${lxcfs}/proc/meminfo bound over /proc/meminfo after \\d+ failed tries \\(`,
    ),
  );
});

test("a file that never comes fails the boot's binds after their 5 s of tries, saying which", () => {
  const dir = fileTempDir("dropship-lxcfs-binds-");
  const lxcfs = fakeLxcfs(join(dir, "lxcfs"));
  const ran = bindsThenRun(lxcfs, `rm ${lxcfs}/proc/cpuinfo`, "echo not reached");
  expect(ran.code).not.toBe(0);
  expect(ran.out).toBe("");
  expect(ran.err).toContain(
    `emulated droplet: cannot bind ${lxcfs}/proc/cpuinfo over /proc/cpuinfo: mount: `,
  );
}, 15_000);
