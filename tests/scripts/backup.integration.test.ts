import { expect, test } from "bun:test";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { createRepo } from "../../pipeline/repos.ts";
import { runAsync } from "../../server/shared/proc.ts";
import { aclFile } from "../../server/shared/state/acl.ts";
import { readAudit } from "../../server/shared/state/audit.ts";
import { changeFlag, listFlags } from "../../server/shared/state/flags.ts";
import { KEYS } from "../../server/shared/state/keys.ts";
import { connectRedis, whenReady } from "../../server/shared/state/redis.ts";
import { putCertificate, readCertificates, TLS_KEYS } from "../../server/shared/state/tls.ts";
import { connectTo, startRedis } from "../helpers/redis.ts";
import { tempDir } from "../helpers/tmp.ts";

// bun run backup and bun run restore against a real redis-server with the fleet's ACL file
// (the control user, as on the control host), a real git repository for the GitOps inventory,
// Redis's own redis-cli, redis-check-rdb and a redis-server of the restore's own. Through
// Sentinel: tests/server/shared/state/sentinel.integration.test.ts.
const ROOT = resolve(import.meta.dir, "../..");
const HOSTS = [{ name: "web-1", role: "production" as const }];
const redis = await startRedis({ acl: (password) => aclFile(password, HOSTS) });
const control = await connectTo(redis);
const dir = tempDir("dropship-backup-");
writeFileSync(join(dir, "dropship.yml"), "name: shop\n");
const backups = join(dir, ".dropship/backups");
const appEnv = join(dir, ".dropship/app.env");
const usersFile = join(dir, ".dropship/users");
mkdirSync(join(dir, ".dropship"), { mode: 0o700 });
writeFileSync(appEnv, "GREETING='hi'\n", { mode: 0o600 });
writeFileSync(usersFile, "ann 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8\n", {
  mode: 0o600,
});
const inventory = join(dir, "inventory");

function git(...args: string[]) {
  const proc = Bun.spawnSync(["git", "-C", inventory, ...args], {
    env: { PATH: process.env.PATH ?? "", HOME: dir },
    stdout: "pipe",
    stderr: "pipe",
  });
  if (proc.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${proc.stderr}`);
  return proc.stdout.toString().trim();
}
mkdirSync(inventory);
git("init", "-q", "-b", "main");
writeFileSync(join(inventory, "inventory.yml"), "hosts: []\n");
git("add", "inventory.yml");
git("-c", "user.name=dropship", "-c", "user.email=d@localhost", "commit", "-qm", "the fleet");
// the receiver's repository, made as the receiver makes one, with the inventory's commit in it
const appRepo = join(dir, ".dropship/repos/app.git");
createRepo(appRepo);
const fetched = Bun.spawnSync([
  "git",
  "--git-dir",
  appRepo,
  "fetch",
  "-q",
  inventory,
  "main:master",
]);
if (fetched.exitCode !== 0) throw new Error(`git fetch: ${fetched.stderr}`);

async function run(script: string, args: string[] = [], env: Record<string, string> = {}) {
  const argv = [process.execPath, join(ROOT, "scripts", script), ...args];
  const { code, stdout, stderr } = await runAsync(argv, {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: dir,
      REDIS_URL: redis.url,
      DROPSHIP_ACTOR: "ann@example.com",
      DROPSHIP_GITOPS_REPO: inventory,
      ...env,
    },
  });
  return { code, out: stdout, err: stderr };
}

const finishedSets = () =>
  readdirSync(backups).filter((name) => existsSync(join(backups, name, "manifest.json")));

/** Every key's type and value as Redis serializes it, to tell whether anything changed. */
async function everything(): Promise<Record<string, string>> {
  const keys = (await control.keys("*")).sort();
  const out: Record<string, string> = {};
  for (const key of keys) out[key] = (await control.dumpBuffer(key))?.toString("hex") ?? "";
  return out;
}

const CERTIFICATE = {
  cert: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
  key: "-----BEGIN PRIVATE KEY-----\nsecret-key\n-----END PRIVATE KEY-----\n",
  notAfter: "2027-03-01T00:00:00.000Z",
  issuedAt: "2026-12-01T00:00:00.000Z",
  issuer: "pebble",
};

await changeFlag(control, "disableSET", { enabled: true, rollout: 100 }, "ann", "create");
await changeFlag(control, "checkout.v2", { enabled: true, rollout: 20 }, "ann", "create");
await control.set("app:message:a", "hello", "PX", 3_600_000);
await control.rpush("app:recent", "a", "b", "c");
await putCertificate(control, "shop.example", CERTIFICATE);
await control.hset(KEYS.backends, "web-1", JSON.stringify({ id: "web-1", before: true }));

let first = "";

test("a backup is Redis's snapshot and the inventory's bundle, this user's only, with no password in it or in what it says", async () => {
  const taken = await run("backup.ts");
  expect(taken.err).toBe("");
  expect(taken.code).toBe(0);
  const name = /^backup (\S+) → /.exec(taken.out)?.[1] ?? "";
  expect(name).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z$/);
  first = name;
  const head = git("rev-parse", "HEAD");
  expect(taken.out).toContain(`  Redis at 127.0.0.1:${redis.port}: `);
  expect(taken.out).toContain(`  GitOps inventory at ${head.slice(0, 7)}: `);
  expect(taken.out + taken.err).not.toContain(redis.password);

  const set = join(backups, name);
  expect(statSync(backups).mode & 0o777).toBe(0o700);
  expect(statSync(set).mode & 0o777).toBe(0o700);
  expect(readdirSync(set).sort()).toEqual([
    "app.env",
    "inventory.bundle",
    "manifest.json",
    "redis.rdb",
    "repo-app.bundle",
    "users",
  ]);
  expect(taken.out).toMatch(/^ {2}the receiver's repositories: app [\d.]+ (B|KiB)$/m);
  expect(readFileSync(join(set, "app.env"), "utf8")).toBe("GREETING='hi'\n");
  expect(taken.out).toContain("  the control host's files: app.env, users\n");
  for (const file of readdirSync(set)) expect(statSync(join(set, file)).mode & 0o777).toBe(0o600);

  const manifestText = readFileSync(join(set, "manifest.json"), "utf8");
  expect(manifestText).not.toContain(redis.password);
  const manifest = JSON.parse(manifestText);
  const rdb = readFileSync(join(set, "redis.rdb"));
  expect(manifest.redis).toEqual({
    from: `127.0.0.1:${redis.port}`,
    keys: (await control.keys("*")).length,
    bytes: rdb.length,
    sha256: new Bun.CryptoHasher("sha256").update(rdb).digest("hex"),
  });
  expect(manifest.inventory.head).toBe(head);
  expect(manifest.files.map((f: { name: string }) => f.name)).toEqual(["app.env", "users"]);
  expect(manifest.repos.map((r: { name: string }) => r.name)).toEqual(["app"]);
  expect(manifest.by).toBe("ann@example.com");
  // Redis's and git's own checkers take both files
  const check = Bun.spawnSync(["redis-check-rdb", join(set, "redis.rdb")], { stdout: "pipe" });
  expect(check.stdout.toString()).toContain("RDB looks OK");
  expect(git("bundle", "verify", "--quiet", join(set, "inventory.bundle"))).toBe("");

  const audit = await readAudit(control, { kind: "backup", limit: 5 });
  expect(audit.map((e) => [e.target, e.actor])).toEqual([[name, "ann@example.com"]]);
  const list = await run("backup.ts", ["list"]);
  expect(list.out).toMatch(
    new RegExp(`${name}\\s+ann@example\\.com\\s+\\d+ keys, [\\d.]+ (B|KiB)\\s+${head.slice(0, 7)}`),
  );
});

test("restore says what it would change and changes nothing; --yes makes flags and app data the set's, puts back lost certificates and leaves the rest", async () => {
  // the fleet moves on after the backup
  await changeFlag(control, "disableSET", { enabled: false, rollout: 100 }, "bob", "update");
  await changeFlag(control, "made.since", { enabled: true, rollout: 100 }, "bob", "create");
  await control.set("app:message:a", "changed");
  await control.set("app:message:b", "new since");
  await control.del(TLS_KEYS.certificates);
  await control.hset(KEYS.backends, "web-1", JSON.stringify({ id: "web-1", now: true }));
  const auditBefore = await control.xlen(KEYS.audit);

  const before = await everything();
  const dry = await run("restore.ts", ["latest"]);
  expect(dry.err).toBe("");
  expect(dry.code).toBe(0);
  expect(dry.out).toContain(`restore ${first} (taken `);
  expect(dry.out).toContain("  flags: disableSET off → on; made.since removed (made since)\n");
  expect(dry.out).toContain("  app data: 2 key(s) written from the set, 1 made since removed\n");
  expect(dry.out).toContain(`  put back where the fleet has none: ${TLS_KEYS.certificates}\n`);
  expect(dry.out).toContain(`  kept as the fleet has them: ${KEYS.audit}\n`);
  expect(dry.out).toEndWith(`nothing was changed: bun run restore ${first} --yes restores it\n`);
  expect(await everything()).toEqual(before);

  // every server hears of each flag change, as of any other
  const listener = connectRedis(redis.url, { purpose: "listener", persistent: false });
  await whenReady(listener, redis.url, 3000);
  const heard: string[] = [];
  listener.on("message", (_channel: string, message: string) =>
    heard.push(JSON.parse(message).field),
  );
  await listener.subscribe(KEYS.events);
  try {
    const done = await run("restore.ts", [first, "--yes"]);
    expect(done.err).toBe("");
    expect(done.code).toBe(0);
    expect(done.out).toEndWith(`restored ${first}\n`);
    for (let i = 0; i < 50 && heard.length < 2; i++) await Bun.sleep(20);
    expect(heard.sort()).toEqual(["disableSET", "made.since"]);
  } finally {
    listener.disconnect();
  }

  const flags = await listFlags(control);
  expect(flags.map((f) => [f.name, f.enabled, f.rollout])).toEqual([
    ["checkout.v2", true, 20],
    ["disableSET", true, 100],
  ]);
  expect(flags.find((f) => f.name === "disableSET")?.updatedBy).toBe(
    `ann@example.com (restore ${first})`,
  );
  expect(await control.get("app:message:a")).toBe("hello");
  const ttl = await control.pttl("app:message:a");
  expect(ttl).toBeGreaterThan(3_000_000); // its time to live came back with it
  expect(ttl).toBeLessThanOrEqual(3_600_000);
  expect(await control.exists("app:message:b")).toBe(0);
  expect(await control.lrange("app:recent", 0, -1)).toEqual(["a", "b", "c"]);
  expect(await readCertificates(control)).toEqual(new Map([["shop.example", CERTIFICATE]]));
  // the routing table is the fleet's now; the audit was not rewound, only added to
  expect(JSON.parse((await control.hget(KEYS.backends, "web-1")) ?? "")).toEqual({
    id: "web-1",
    now: true,
  });
  const audit = await readAudit(control, { limit: 100 });
  expect(audit.length).toBe(auditBefore + 3);
  expect(audit[0]).toMatchObject({ kind: "restore", target: first, actor: "ann@example.com" });
  expect(audit[0]?.new).toContain("2 flag change(s), 2 app key(s) written, 1 removed");
  expect(audit.some((e) => e.target === "made.since" && e.actor === "bob")).toBe(true);
  expect(audit.some((e) => e.target === "made.since" && e.new === "")).toBe(true);

  const again = await run("restore.ts", [first]);
  expect(again.out).toContain("  flags: as in the set\n");
  expect(again.out).toContain(
    "  put back where the fleet has none: nothing (the fleet has them all)\n",
  );
});

test("a lost GitOps inventory and app settings are made again from the set; those that moved on are left as they are", async () => {
  const head = git("rev-parse", "HEAD");
  renameSync(inventory, `${inventory}.lost`);
  renameSync(appRepo, `${appRepo}.lost`);
  rmSync(appEnv);
  writeFileSync(
    usersFile,
    "bob 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\n",
  );
  const made = await run("restore.ts", ["latest", "--yes"]);
  expect(made.code).toBe(0);
  expect(made.out).toContain(
    `  GitOps inventory: missing at ${inventory}: made from the set's bundle (${head.slice(0, 7)})\n`,
  );
  expect(git("rev-parse", "HEAD")).toBe(head);
  expect(git("status", "--porcelain")).toBe("");
  expect(git("remote")).toBe(""); // not tied to the backup's file
  expect(readFileSync(join(inventory, "inventory.yml"), "utf8")).toBe("hosts: []\n");
  expect(made.out).toContain(`  app.env: missing at ${appEnv}: made again from the set\n`);
  // the receiver's repository, with its hook, and the branch as it was pushed
  expect(made.out).toContain(
    `  repository app: missing at ${appRepo}: made again from the set's bundle\n`,
  );
  const master = Bun.spawnSync(["git", "--git-dir", appRepo, "rev-parse", "master"]);
  expect(master.stdout.toString().trim()).toBe(head);
  expect(statSync(join(appRepo, "hooks/pre-receive")).mode & 0o111).toBeTruthy();
  expect(readFileSync(join(appRepo, "hooks/pre-receive"), "utf8")).toContain("dropship-receiver");
  expect(made.out).toContain(
    `  users: ${usersFile} differs from the set's: left as it is (bun run users changes it)\n`,
  );
  expect(readFileSync(appEnv, "utf8")).toBe("GREETING='hi'\n");
  expect(statSync(appEnv).mode & 0o777).toBe(0o600);
  expect(readFileSync(usersFile, "utf8")).toStartWith("bob ");

  writeFileSync(join(inventory, "inventory.yml"), "hosts: [web-1]\n");
  git("-c", "user.name=dropship", "-c", "user.email=d@localhost", "commit", "-qam", "web-1");
  const moved = git("rev-parse", "HEAD");
  const left = await run("restore.ts", ["latest", "--yes"]);
  expect(left.out).toContain(
    `  GitOps inventory: ${inventory} is at ${moved.slice(0, 7)}, the set at ${head.slice(0, 7)}: left as it is`,
  );
  expect(git("rev-parse", "HEAD")).toBe(moved);
});

test("the newest sets are kept; an unfinished set is listed as such and never restored", async () => {
  for (let i = 0; i < 2; i++) expect((await run("backup.ts", ["--keep", "2"])).code).toBe(0);
  const kept = finishedSets().sort();
  expect(kept).toHaveLength(2);
  expect(kept).not.toContain(first);
  const unfinished = "2999-01-01T00-00-00Z";
  mkdirSync(join(backups, unfinished), { mode: 0o700 });
  const list = await run("backup.ts", ["list"]);
  expect(list.out).toMatch(new RegExp(`${unfinished}\\s+\\(unfinished\\)`));
  const refused = await run("restore.ts", [unfinished]);
  expect(refused.code).toBe(1);
  expect(refused.err).toBe(
    `dropship restore: backup set ${unfinished} cannot be restored: unfinished\n`,
  );
  const latest = await run("restore.ts", ["latest"]);
  expect(latest.out).toStartWith(`restore ${kept[1]} (taken `);
  expect((await run("backup.ts", ["--keep", "0"])).code).toBe(2);
  expect((await run("restore.ts", ["nosuch"])).err).toBe(
    `dropship restore: no backup set nosuch in ${backups} — bun run backup list shows them\n`,
  );
});

test("a damaged set is refused before anything changes, whether its digest or Redis finds the fault", async () => {
  const name = finishedSets().sort().at(-1) ?? "";
  const rdb = join(backups, name, "redis.rdb");
  const manifestPath = join(backups, name, "manifest.json");
  await changeFlag(control, "disableSET", { enabled: false, rollout: 100 }, "bob", "update");
  const before = await everything();
  const whole = await run("backup.ts", ["verify", "latest"]);
  expect(whole.err).toBe("");
  expect(whole.out).toMatch(
    new RegExp(
      `^${name}: \\d+ keys load, the inventory at [0-9a-f]{7}, app\\.env, users, app\\.git: as written\n$`,
    ),
  );

  const bytes = readFileSync(rdb);
  const middle = Math.floor(bytes.length / 2);
  bytes.writeUInt8(bytes.readUInt8(middle) ^ 0xff, middle);
  writeFileSync(rdb, bytes);
  const digest = await run("restore.ts", [name, "--yes"]);
  expect(digest.code).toBe(1);
  expect(digest.err).toContain(`${rdb} is not the file the backup wrote`);
  // verify finds it too, and the unfinished set the test before left, and says which
  const all = await run("backup.ts", ["verify"]);
  expect(all.code).toBe(1);
  expect(all.out).toContain(`${name}: DAMAGED — ${rdb} is not the file the backup wrote`);
  expect(all.out).toContain("2999-01-01T00-00-00Z: DAMAGED — unfinished\n");
  expect(all.out).toMatch(/: as written\n/); // the other finished set
  expect(all.err).toStartWith("dropship backup: 2 of 3 set(s) cannot be restored as they are");

  // the manifest made to agree: Redis's own loader refuses it
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
  manifest.redis.sha256 = new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
  writeFileSync(manifestPath, JSON.stringify(manifest));
  const loaded = await run("restore.ts", [name, "--yes"]);
  expect(loaded.code).toBe(1);
  expect(loaded.err).toStartWith(`dropship restore: redis-server could not load ${rdb}: `);
  expect((await run("backup.ts", ["verify", name])).out).toStartWith(
    `${name}: DAMAGED — redis-server could not load ${rdb}: `,
  );
  expect(await everything()).toEqual(before);
});

test("backup/after copies each set off the machine, told which, with no secret; its failure keeps the set and says so", async () => {
  const config = join(dir, "dropship.yml");
  const offsite = join(dir, "offsite");
  try {
    writeFileSync(
      config,
      `name: shop\nbackup:\n  after: 'mkdir -p offsite && cp -r "$DROPSHIP_BACKUP_DIR" offsite/ && env > offsite/env-seen'\n`,
    );
    const copied = await run("backup.ts");
    expect(copied.err).toBe("");
    expect(copied.code).toBe(0);
    const name = /^backup (\S+) → /.exec(copied.out)?.[1] ?? "";
    expect(copied.out).toContain("▸ backup/after\n");
    expect(copied.out).toMatch(/ {2}backup\/after: ok \(\d+\.\d s\)\n/);
    expect(readFileSync(join(offsite, name, "manifest.json"), "utf8")).toBe(
      readFileSync(join(backups, name, "manifest.json"), "utf8"),
    );
    const seen = readFileSync(join(offsite, "env-seen"), "utf8");
    expect(seen).toContain(`DROPSHIP_BACKUP_SET=${name}\n`);
    expect(seen).toContain(`DROPSHIP_BACKUP_DIR=${join(backups, name)}\n`);
    expect(seen).toContain(`DROPSHIP_BACKUPS=${backups}\n`);
    expect(seen).not.toContain("REDIS_URL");
    expect(seen).not.toContain(redis.password);

    writeFileSync(
      config,
      "name: shop\nbackup:\n  after: 'echo no route to the backup host >&2; exit 3'\n",
    );
    const failed = await run("backup.ts");
    expect(failed.code).toBe(1);
    const kept = /^backup (\S+) → /.exec(failed.out)?.[1] ?? "";
    expect(failed.err).toMatch(
      new RegExp(
        `^dropship backup: set ${kept} is kept in \\S+, but backup/after failed \\(exit 3\\) after \\d+\\.\\d s; it said: no route to the backup host — fix backup/after \\(or where it copies to\\), then bun run backup again\n$`,
      ),
    );
    expect(existsSync(join(backups, kept, "manifest.json"))).toBe(true);
  } finally {
    writeFileSync(config, "name: shop\n");
  }
});

test("a restore stopped part way by a full Redis says so, and run again finishes it", async () => {
  await changeFlag(control, "disableSET", { enabled: true, rollout: 100 }, "bob", "update");
  expect((await run("backup.ts")).code).toBe(0);
  await changeFlag(control, "disableSET", { enabled: false, rollout: 100 }, "bob", "update");
  await control.set("app:message:a", "changed again");
  const info = await control.info("memory");
  const used = Number(/used_memory:(\d+)/.exec(info)?.[1]);
  await control.config("SET", "maxmemory-policy", "noeviction");
  await control.config("SET", "maxmemory", String(used - 1024));
  let stopped: Awaited<ReturnType<typeof run>>;
  try {
    stopped = await run("restore.ts", ["latest", "--yes"]);
  } finally {
    await control.config("SET", "maxmemory", "0");
  }
  expect(stopped.code).toBe(1);
  expect(stopped.err).toMatch(
    /^dropship restore: the restore of \S+ stopped part way \(RESTORE app:message:a: OOM .*\); what it wrote stays — bun run restore \S+ --yes again finishes it, changing only what still differs\n$/,
  );
  expect((await listFlags(control)).find((f) => f.name === "disableSET")?.enabled).toBe(false);

  const finished = await run("restore.ts", ["latest", "--yes"]);
  expect(finished.code).toBe(0);
  expect(await control.get("app:message:a")).toBe("hello");
  expect((await listFlags(control)).find((f) => f.name === "disableSET")?.enabled).toBe(true);
});

test("a backup that cannot read Redis says why and leaves no set behind", async () => {
  const sets = readdirSync(backups).sort();
  const wrong = new URL(redis.url);
  wrong.password = "not-the-password";
  const refused = await run("backup.ts", [], { REDIS_URL: wrong.toString() });
  expect(refused.code).toBe(1);
  expect(refused.err).toContain(
    `Redis at redis://control:****@127.0.0.1:${redis.port} refused its user and password (WRONGPASS`,
  );
  expect(refused.err).not.toContain("not-the-password");
  expect(readdirSync(backups).sort()).toEqual(sets);

  await redis.stop();
  try {
    const down = await run("backup.ts");
    expect(down.code).toBe(1);
    expect(down.err).toContain(
      `cannot reach Redis at redis://control:****@127.0.0.1:${redis.port} (connect ECONNREFUSED`,
    );
    expect(down.err).not.toContain(redis.password);
    expect(readdirSync(backups).sort()).toEqual(sets);
  } finally {
    await redis.start();
  }
});
