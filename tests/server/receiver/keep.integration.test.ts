import { expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { git, pushableApp, startReceiver } from "../../helpers/receiver.ts";

// What the control host keeps: each push to master keeps its release (~330 MB of binaries);
// older ones go once a push is done, except those the hosts may still need.
const TOKEN = "keep-releases-token-0123";
const { receiver, dir } = await startReceiver(
  'pipeline:\n  repos: [app]\n  keep_releases: 2\n  test: { master: "true" }\n',
  TOKEN,
);
const work = join(dir, "work");
const { app, commit } = pushableApp(dir);

test("a push lets go of releases past pipeline/keep_releases, keeping those production's hosts hold", () => {
  // eight earlier releases, a day apart; production was given 1, then 3, then 4
  const versions = Array.from({ length: 8 }, (_, i) => `${i}`.repeat(12));
  for (const [i, version] of versions.entries()) {
    const release = join(work, "releases", version);
    mkdirSync(release, { recursive: true });
    writeFileSync(join(release, "dropship-app"), new Uint8Array(1024 * 1024).fill(i));
    const at = new Date(Date.now() - (10 - i) * 24 * 60 * 60 * 1000);
    utimesSync(release, at, at);
  }
  mkdirSync(join(work, "locks"), { recursive: true });
  writeFileSync(
    join(work, "locks", "production.history"),
    ["1", "3", "4"].map((d) => `${d.repeat(40)}\n`).join(""),
  );

  const push = Bun.spawnSync(
    ["git", "push", `http://ann:${TOKEN}@127.0.0.1:${receiver.port}/app.git`, "HEAD:master"],
    { cwd: app, stderr: "pipe", timeout: 30_000 },
  );
  const said = push.stderr.toString();
  expect(push.exitCode).toBe(0);
  expect(said).toContain("passed the gate");
  // kept: the newest two (this push's and 7), and what production was given last, which its
  // hosts keep to roll back to and a new host may be given: this push's, 4 and 3
  const pushed = commit.slice(0, 12);
  expect(readdirSync(join(work, "releases")).sort()).toEqual(
    [pushed, "333333333333", "444444444444", "777777777777"].sort(),
  );
  // before the gate, all but the newest two and what production was given (1, 3, 4); after
  // it, 1 too, which this push made the fourth-last given, and 6, no longer among the newest
  expect(said).toMatch(
    /remote:\s+let go of 3 older releases \(000000000000, 222222222222, 555555555555\): \d+ MiB freed \(pipeline\/keep_releases\)\s+remote: ▸ sandbox/,
  );
  expect(said).toMatch(
    /passed the gate .*\s+remote:\s+let go of 2 older releases \(111111111111, 666666666666\): \d+ MiB freed/,
  );
  // nor is the gate's workspace kept once the push is done
  expect(readdirSync(join(work, "workspaces"))).toEqual([]);
  expect(
    readFileSync(join(work, "locks", "production.history"), "utf8")
      .trim()
      .split("\n"),
  ).toEqual(["1", "3", "4"].map((d) => d.repeat(40)).concat(commit));
  expect(git(join(dir, "repos", "app.git"), "rev-parse", "refs/heads/master")).toBe(commit);
}, 40_000);
