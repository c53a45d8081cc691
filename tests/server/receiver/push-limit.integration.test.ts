import { expect, test } from "bun:test";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { git, pushableApp, startReceiver } from "../../helpers/receiver.ts";

// A push is written to the control host's disk as it arrives: pipeline/push_limit bounds it.
const TOKEN = "push-limit-token-0123";
const { receiver, dir } = await startReceiver(
  'pipeline:\n  repos: [app]\n  push_limit: 1\n  test: { master: "true" }\n',
  TOKEN,
);
const { app, commit } = pushableApp(dir);
const repo = join(dir, "repos", "app.git");
const remote = `http://ann:${TOKEN}@127.0.0.1:${receiver.port}/app.git`;

test("a push bigger than pipeline/push_limit is refused as it arrives, and nothing of it is kept", () => {
  // 3 MiB that no compression shrinks, on a branch of its own
  git(app, "checkout", "-q", "-b", "big");
  writeFileSync(join(app, "blob.bin"), crypto.getRandomValues(new Uint8Array(3 * 1024 * 1024)));
  git(app, "add", "blob.bin");
  git(app, "commit", "-q", "-m", "big");
  const big = git(app, "rev-parse", "HEAD");
  const blob = git(app, "rev-parse", "HEAD:blob.bin");

  const push = Bun.spawnSync(["git", "push", remote, "big:master"], {
    cwd: app,
    stderr: "pipe",
    timeout: 30_000,
  });
  const said = push.stderr.toString();
  expect(push.exitCode).not.toBe(0);
  expect(said).toContain("pack exceeds maximum allowed size");
  // no branch, no object, no quarantine left behind; the gate never ran
  expect(git(repo, "rev-parse", "--verify", "-q", "refs/heads/master")).toBe("");
  expect(Bun.spawnSync(["git", "cat-file", "-e", blob], { cwd: repo }).exitCode).not.toBe(0);
  expect(Bun.spawnSync(["git", "cat-file", "-e", big], { cwd: repo }).exitCode).not.toBe(0);
  expect(readdirSync(join(repo, "objects")).filter((d) => d.startsWith("tmp_"))).toEqual([]);
  expect(said).not.toContain("▸ sandbox");
}, 40_000);

test("a push within the limit goes through as before", () => {
  const push = Bun.spawnSync(["git", "push", remote, `${commit}:refs/heads/master`], {
    cwd: app,
    stderr: "pipe",
    timeout: 30_000,
  });
  expect(push.stderr.toString()).toContain("passed the gate");
  expect(push.exitCode).toBe(0);
  expect(git(repo, "rev-parse", "refs/heads/master")).toBe(commit);
}, 40_000);
