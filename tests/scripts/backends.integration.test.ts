import { expect, test } from "bun:test";
import { resolve } from "node:path";
import { readAudit } from "../../server/shared/state/audit.ts";
import { listBackends } from "../../server/shared/state/routing.ts";
import { connectTo, startRedis } from "../helpers/redis.ts";

// bun run backends, the routing table by hand, against a real redis-server: each change read
// back from Redis and from the audit stream, and the slips that would take the site down
// refused unless the person says --force.
const ROOT = resolve(import.meta.dir, "../..");
const redis = await startRedis();
const state = await connectTo(redis);

function backends(args: string[], env: Record<string, string> = { REDIS_URL: redis.url }) {
  const proc = Bun.spawnSync([process.execPath, resolve(ROOT, "scripts/backends.ts"), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", DROPSHIP_ACTOR: "ann@laptop", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: proc.exitCode, out: proc.stdout.toString(), err: proc.stderr.toString() };
}

const table = async () =>
  (await listBackends(state)).map((b) => `${b.id} ${b.track}${b.draining ? " draining" : ""}`);

test("with no backends, list (also without a word) says how to add one", () => {
  expect(backends([])).toMatchObject({
    code: 0,
    out: "no backends; add one with: bun run backends add production URL\n",
  });
  expect(backends(["list"]).out).toBe(backends([]).out);
});

test("add, drain, add again to undo, move and remove: each in Redis and in the audit, as ann's", async () => {
  expect(backends(["add", "production", "http://10.0.0.1:3000"]).out).toBe(
    "10.0.0.1:3000: added to production\n",
  );
  expect(backends(["add", "production", "http://10.0.0.2:3000/"]).out).toBe(
    "10.0.0.2:3000: added to production\n",
  );
  expect(backends(["add", "production", "http://10.0.0.2:3000"]).out).toBe(
    "10.0.0.2:3000: in rotation already as production\n",
  );
  expect(backends(["drain", "http://10.0.0.2:3000"]).out).toBe(
    "10.0.0.2:3000: draining — no new requests; in-flight ones finish\n",
  );
  expect(await table()).toEqual(["10.0.0.1:3000 production", "10.0.0.2:3000 production draining"]);
  expect(backends(["list"]).out).toMatch(
    /^ID\s+TRACK\s+URL\s+STATE\n10\.0\.0\.1:3000\s+production\s+http:\/\/10\.0\.0\.1:3000\s+in rotation\n10\.0\.0\.2:3000\s+production\s+http:\/\/10\.0\.0\.2:3000\s+draining\n$/,
  );
  expect(backends(["add", "production", "http://10.0.0.2:3000"]).out).toBe(
    "10.0.0.2:3000: back in rotation as production\n",
  );
  expect(backends(["add", "staging", "http://10.0.0.2:3000"]).out).toBe(
    "10.0.0.2:3000: moved from production to staging\n",
  );
  expect(backends(["remove", "http://10.0.0.2:3000"]).out).toBe("10.0.0.2:3000: removed\n");
  expect(await table()).toEqual(["10.0.0.1:3000 production"]);
  const audited = await readAudit(state, { kind: "backend", target: "10.0.0.2:3000", limit: 10 });
  expect(audited).toHaveLength(5);
  expect(new Set(audited.map((e) => e.actor))).toEqual(new Set(["ann@laptop"]));
  expect(audited[0]?.new).toBe("");
});

test("the last production backend in rotation is not drained, removed or moved without --force", async () => {
  const before = await table();
  const refusal =
    "dropship backends: 10.0.0.1:3000 is the only production backend in rotation: without it every production visitor gets a 503 — add another first (bun run backends add production URL), or say --force (with bun run maintenance on, visitors are told why)\n";
  for (const args of [
    ["drain", "http://10.0.0.1:3000"],
    ["remove", "http://10.0.0.1:3000"],
    ["add", "staging", "http://10.0.0.1:3000"],
  ]) {
    const refused = backends(args);
    expect(refused).toMatchObject({ code: 1, err: refusal, out: "" });
  }
  expect(await table()).toEqual(before);
  // a staging backend may go: staging's visitors fall back to production
  expect(backends(["add", "staging", "http://10.0.0.5:3000"]).code).toBe(0);
  expect(backends(["drain", "http://10.0.0.5:3000"]).code).toBe(0);
  expect(backends(["remove", "http://10.0.0.5:3000"]).code).toBe(0);
  // one who means it says so, and is told what it does
  const forced = backends(["drain", "http://10.0.0.1:3000", "--force"]);
  expect(forced).toMatchObject({ code: 0 });
  expect(forced.out).toBe(
    "(--force: 10.0.0.1:3000 is the only production backend in rotation: without it every production visitor gets a 503)\n10.0.0.1:3000: draining — no new requests; in-flight ones finish\n",
  );
  expect(await table()).toEqual(["10.0.0.1:3000 production draining"]);
  // with it already out of rotation, another slip costs nothing more
  expect(backends(["remove", "http://10.0.0.1:3000"]).code).toBe(0);
  expect(await table()).toEqual([]);
});

test("bad input is refused with a sentence, and changes nothing", async () => {
  await backends(["add", "production", "http://10.0.0.1:3000"]);
  const before = await table();
  const cases: [string[], string, number][] = [
    [
      ["add", "production", "garbage"],
      '"garbage" is not a URL — write it like http://10.0.0.5:3000',
      1,
    ],
    [
      ["add", "production", "https://10.0.0.1:3000"],
      "only http:// backends are supported (the proxy talks to apps on a private network)",
      1,
    ],
    [
      ["add", "production", "http://u:secret@10.0.0.1:3000"],
      "http://10.0.0.1:3000: credentials do not belong in a backend URL",
      1,
    ],
    [["add", "production", "http://10.0.0.1:3000/app"], "give only scheme, host and port", 1],
    [["add", "canary", "http://10.0.0.1:3000"], 'track "canary" is not valid', 1],
    [["drain", "http://10.9.9.9:3000"], "no backend 10.9.9.9:3000 — see bun run backends list", 1],
    [["remove", "http://10.9.9.9:3000"], "no backend 10.9.9.9:3000 — see bun run backends list", 1],
    [["frobnicate"], "cannot frobnicate", 2],
    [["add", "production"], "cannot add production", 2],
  ];
  for (const [args, fault, code] of cases) {
    const refused = backends(args);
    expect({ args, code: refused.code }).toEqual({ args, code });
    expect(refused.err).toContain(fault);
    // a credential typed by mistake is never echoed back
    expect(refused.err).not.toContain("secret");
  }
  expect(await table()).toEqual(before);
});

test("without Redis it says which Redis it could not reach, with no password", () => {
  const gone = backends(["list"], { REDIS_URL: `redis://:hunter22@127.0.0.1:1/0` });
  expect(gone.code).toBe(1);
  expect(gone.err).toContain("127.0.0.1:1");
  expect(gone.err).not.toContain("hunter22");
});
