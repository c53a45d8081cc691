import { expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { checkAdmin } from "../../server/shared/auth.ts";
import { readAudit } from "../../server/shared/state/audit.ts";
import { loadUsersFile } from "../../server/shared/users-file.ts";
import { connectTo, startRedis } from "../helpers/redis.ts";
import { fileTempDir } from "../helpers/tmp.ts";

const ROOT = resolve(import.meta.dir, "../..");
const dir = fileTempDir("dropship-users-");
const file = join(dir, "users");

function users(...args: string[]) {
  return usersWith({}, ...args);
}

function usersWith(env: Record<string, string>, ...args: string[]) {
  const proc = Bun.spawnSync([process.execPath, resolve(ROOT, "scripts/users.ts"), ...args], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? "",
      DROPSHIP_USERS_FILE: file,
      DROPSHIP_GITOPS_REPO: join(dir, "no-fleet"),
      DROPSHIP_ACTOR: "ann@laptop",
      ...env,
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: proc.exitCode, out: proc.stdout.toString(), err: proc.stderr.toString() };
}

test("add prints a token once; the file keeps only its hash, for the owner alone", () => {
  expect(users("list").out).toContain(`no named users in ${file}`);
  const added = users("add", "ann");
  expect(added.code).toBe(0);
  const token = /^ {2}([0-9a-f]{64})$/m.exec(added.out)?.[1] as string;
  expect(token).toHaveLength(64);
  const text = readFileSync(file, "utf8");
  expect(text).not.toContain(token);
  expect(statSync(file).mode & 0o777).toBe(0o600);
  const listed = loadUsersFile(file);
  expect(listed.map((u) => u.name)).toEqual(["ann"]);
  expect(checkAdmin(`Bearer ${token}`, "some-admin-token-0123", listed)).toEqual({
    ok: true,
    user: "ann",
  });
  expect(users("list").out).toMatch(/^ann\s+\d{4}-\d\d-\d\d$/m);
});

test("a second add of a name, a bad name or an unknown removal fails, saying why", () => {
  const again = users("add", "ann");
  expect(again.code).toBe(1);
  expect(again.err).toContain("ann already exists — remove it first to give a new token");
  expect(users("add", "admin").err).toContain("choose another name");
  expect(users("add", "Ann Lee").err).toContain('user name "Ann Lee" is not valid');
  expect(users("remove", "zed").err).toContain("no user zed — the users are: ann");
  expect(users("frobnicate").code).toBe(2);
  expect(users("add").code).toBe(2);
  expect(loadUsersFile(file).map((u) => u.name)).toEqual(["ann"]);
});

test("remove takes the user and their token away", () => {
  const removed = users("remove", "ann");
  expect(removed.code).toBe(0);
  expect(removed.out).toContain("removed ann; their token no longer works");
  expect(loadUsersFile(file)).toEqual([]);
});

test("adding and removing a user is in the audit stream, under who did it, never the token", async () => {
  const redis = await startRedis();
  const state = await connectTo(redis);
  const added = usersWith({ REDIS_URL: redis.url }, "add", "bob");
  expect(added.code).toBe(0);
  const token = /^ {2}([0-9a-f]{64})$/m.exec(added.out)?.[1] as string;
  expect(usersWith({ REDIS_URL: redis.url }, "remove", "bob").code).toBe(0);
  const entries = await readAudit(state, { kind: "users", limit: 10 });
  expect(entries.map((e) => [e.target, e.new, e.actor])).toEqual([
    ["bob", "removed", "ann@laptop"],
    ["bob", "added, with a new token", "ann@laptop"],
  ]);
  expect(JSON.stringify(entries)).not.toContain(token);
  // without REDIS_URL the change still happens, and it says the stream has nothing
  const unaudited = users("add", "cyd");
  expect(unaudited.code).toBe(0);
  expect(unaudited.out).toContain("(REDIS_URL is not set: not audited)");
  state.disconnect();
});
