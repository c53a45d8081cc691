import { afterAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { aclFile } from "../../server/shared/state/acl.ts";
import { freePort } from "../helpers/ports.ts";
import { track, waitForLine } from "../helpers/processes.ts";
import { fileTempDir } from "../helpers/tmp.ts";

// Where Sentinel owns redis.conf, the playbook puts a changed memory limit in force with this
// script on the Redis host. Here it runs against a real redis-server started from a file, as
// the fleet's is, with the control user and the password on stdin, as the task gives them.

const SCRIPT = resolve(import.meta.dir, "../../ansible/roles/dropship_redis/files/redis-memory.sh");
const dir = fileTempDir("dropship-redis-memory-");
const password = crypto.randomUUID().replaceAll("-", "");
const port = freePort();
const conf = join(dir, "redis.conf");
writeFileSync(join(dir, "users.acl"), aclFile(password, []));
writeFileSync(
  conf,
  [
    `port ${port}`,
    "bind 127.0.0.1",
    `aclfile ${join(dir, "users.acl")}`,
    `dir ${dir}`,
    'save ""',
    "maxmemory-policy noeviction",
    "",
  ].join("\n"),
);
const server = track(Bun.spawn(["redis-server", conf], { stdout: "pipe", stderr: "inherit" }));
afterAll(async () => {
  server.kill("SIGTERM");
  await server.exited;
});
await waitForLine(server.stdout, /Ready to accept connections/, 10_000, "redis-server");

function limit(mb: number, policy: string, stdin = password) {
  const run = Bun.spawnSync(["sh", SCRIPT, "127.0.0.1", String(port), String(mb), policy], {
    env: { PATH: process.env.PATH ?? "" },
    stdin: new TextEncoder().encode(stdin),
  });
  return { code: run.exitCode, out: run.stdout.toString(), err: run.stderr.toString() };
}

const configGet = (name: string) =>
  Bun.spawnSync(["redis-cli", "-p", String(port), "--user", "control", "CONFIG", "GET", name], {
    env: { PATH: process.env.PATH ?? "", REDISCLI_AUTH: password },
  })
    .stdout.toString()
    .split("\n")[1];

test("a limit that differs is put in force and written to the file; the same again changes nothing", () => {
  expect(limit(64, "volatile-lru")).toEqual({
    code: 0,
    out: "changed: maxmemory 64mb, maxmemory-policy volatile-lru (was 0 noeviction)\n",
    err: "",
  });
  expect(configGet("maxmemory")).toBe(String(64 * 1024 * 1024));
  expect(configGet("maxmemory-policy")).toBe("volatile-lru");
  // for the server's next start (Sentinel restarts it from this file)
  const file = readFileSync(conf, "utf8");
  expect(file).toMatch(/^maxmemory 64mb$/m);
  expect(file).toMatch(/^maxmemory-policy volatile-lru$/m);
  expect(limit(64, "volatile-lru")).toEqual({ code: 0, out: "", err: "" });
  // a changed one is changed again
  expect(limit(128, "volatile-lru").out).toBe(
    `changed: maxmemory 128mb, maxmemory-policy volatile-lru (was ${64 * 1024 * 1024} volatile-lru)\n`,
  );
});

test("a policy Redis does not know, or a wrong password, fails the task and changes nothing", () => {
  const before = [configGet("maxmemory"), configGet("maxmemory-policy")];
  const unknown = limit(32, "volatile_lru");
  expect(unknown.code).not.toBe(0);
  expect(unknown.err).toContain(
    "CONFIG SET: ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy')",
  );
  const wrong = limit(32, "volatile-lru", "not-the-password");
  expect(wrong.code).not.toBe(0);
  expect(wrong.out + wrong.err).not.toContain(password);
  expect([configGet("maxmemory"), configGet("maxmemory-policy")]).toEqual(before);
});
