import { expect, test } from "bun:test";
import { mkdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { diskOfItsOwn } from "../../helpers/disk.ts";
import { git, pushableApp, startReceiver } from "../../helpers/receiver.ts";

// The control host's disk, on a disk of 1000 MiB of its own (tmpfs): a push first lets go of
// what the pushes before it left, and is refused with a sentence when the disk is still too full.
const MIB = 1024 * 1024;
const { path: work, remove } = diskOfItsOwn(1000);

const TOKEN = "disk-token-0123456789";
// a receiver that does not start must not leave the mount behind
const { receiver, dir } = await startReceiver(
  'pipeline:\n  repos: [app]\n  keep_releases: 2\n  test: { master: "true" }\n',
  TOKEN,
  { DROPSHIP_WORK: work },
).catch((error) => {
  remove();
  throw error;
});
const { app, commit } = pushableApp(dir);
const repo = join(dir, "repos", "app.git");
const push = (ref: string) => {
  const run = Bun.spawnSync(
    [
      "git",
      "push",
      `http://ann:${TOKEN}@127.0.0.1:${receiver.port}/app.git`,
      `${ref}:refs/heads/master`,
    ],
    { cwd: app, stderr: "pipe", timeout: 30_000 },
  );
  return { code: run.exitCode, said: run.stderr.toString() };
};

test("a push on a disk the earlier releases filled lets go of them first, then runs", () => {
  // eight releases of 100 MiB, a day apart: 200 MiB free, where a push needs 512
  for (let i = 0; i < 8; i++) {
    const release = join(work, "releases", `${i}`.repeat(12));
    mkdirSync(release, { recursive: true });
    writeFileSync(join(release, "dropship-app"), new Uint8Array(100 * MIB).fill(i + 1));
    const at = new Date(Date.now() - (10 - i) * 24 * 60 * 60 * 1000);
    utimesSync(release, at, at);
  }
  const { code, said } = push(commit);
  expect(said).toContain("let go of 6 older releases");
  // what the gate may write is half of what is free once they are gone (~800 MiB)
  const limit = Number(/▸ sandbox: .*; (\d+) MiB and \d+ files in the workspace/.exec(said)?.[1]);
  expect(limit).toBeGreaterThan(350);
  expect(limit).toBeLessThanOrEqual(500);
  expect(said.indexOf("let go of")).toBeLessThan(said.indexOf("▸ sandbox"));
  expect(code).toBe(0);
}, 40_000);

test("a push on a disk still too full is refused before its gate, with what to do", () => {
  writeFileSync(join(work, "someone-else's"), new Uint8Array(700 * MIB));
  git(app, "commit", "-q", "--allow-empty", "-m", "second");
  const second = git(app, "rev-parse", "HEAD");
  const { code, said } = push(second);
  expect(code).not.toBe(0);
  expect(said).toMatch(
    new RegExp(
      `✗ push rejected: the control host's disk under ${work} has \\d+ MiB free, and a push needs 512 \\(pipeline/step_disk auto gives it half\\); free space there, or set pipeline/step_disk`,
    ),
  );
  expect(said).not.toContain("▸ sandbox");
  expect(git(repo, "rev-parse", "refs/heads/master")).toBe(commit);
  rmSync(join(work, "someone-else's"));
}, 40_000);
