import { expect, test } from "bun:test";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readSets } from "../../../pipeline/backup-sets.ts";
import { startBackupSchedule } from "../../../server/receiver/backups.ts";
import { Mailer } from "../../../server/shared/mailer.ts";
import { aclFile } from "../../../server/shared/state/acl.ts";
import { readAudit } from "../../../server/shared/state/audit.ts";
import { startReceiver } from "../../helpers/receiver.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually } from "../../helpers/server.ts";
import { startSmtp } from "../../helpers/smtp.ts";
import { tempDir } from "../../helpers/tmp.ts";

// The receiver's scheduled backups (backup/enabled) against a real redis-server with the
// fleet's ACL file and a real SMTP server: sets taken on time and kept to backup/keep, and a
// Redis that goes away mailed once when backups start failing and once when they work again.
const redis = await startRedis({ acl: (password) => aclFile(password, []) });
const smtp = await startSmtp();

/** What a schedule backs up: this file's Redis, into `dir`/backups, its files from `dir`. */
const backupIn = (dir: string, keep: number) => ({
  redisUrl: redis.url,
  dir: join(dir, "backups"),
  gitopsRepo: join(dir, "none"),
  controlFiles: { "app.env": join(dir, "app.env"), users: join(dir, "users") },
  repos: { root: join(dir, "repos"), names: ["app"] },
  keep,
});

test("scheduled backups: taken every `every`, kept to `keep`, audited; a Redis that is gone mailed once, and its return once", async () => {
  const dir = tempDir("dropship-backups-");
  const backups = backupIn(dir, 2).dir;
  writeFileSync(join(dir, "app.env"), "GREETING='hi'\n");
  const said: string[] = [];
  const audited: string[] = [];
  const mailer = new Mailer({
    smtpUrl: smtp.url,
    from: "dropship <dropship@shop>",
    to: "ops@example.com",
    log: (line) => said.push(line),
  });
  const schedule = startBackupSchedule(
    {
      backup: backupIn(dir, 2),
      every: 700,
      site: "shop",
      say: (line) => said.push(line),
      notify: (mail) => mailer.send(mail),
      audit: async (name) => {
        audited.push(name);
      },
    },
    50,
  );
  try {
    // the first at once, then one each `every`; never more than `keep` kept
    await eventually(async () => audited.length >= 3, 15_000, "three scheduled backups");
    const finished = () => readSets(backups).filter((s) => typeof s.manifest !== "string");
    expect(
      finished().every(
        (s) => typeof s.manifest !== "string" && s.manifest.by === "dropship-receiver",
      ),
    ).toBe(true);
    expect(said.some((line) => line.startsWith("  removed 1 older set: "))).toBe(true);
    const set = finished().at(-1);
    expect(existsSync(join(set?.dir ?? "", "app.env"))).toBe(true);
    expect(smtp.mails).toHaveLength(0);

    await redis.stop();
    const before = audited.length;
    // failures every `every` (shorter than the retry time): one mail for all of them
    await eventually(
      async () => said.filter((line) => line.startsWith("backup: failed")).length >= 3,
      15_000,
      "three failed backups",
    );
    const [failing] = await smtp.waitFor(1, 10_000);
    expect(failing?.subject).toBe("[shop] backups are failing");
    expect(failing?.text).toContain(
      `cannot reach Redis at redis://control:****@127.0.0.1:${redis.port}`,
    );
    expect(failing?.text).not.toContain(redis.password);
    expect(said.join("\n")).not.toContain(redis.password);
    // no set left by a failed one
    expect(
      readdirSync(backups).every((name) => existsSync(join(backups, name, "manifest.json"))),
    ).toBe(true);

    await redis.start();
    await eventually(async () => audited.length > before, 15_000, "a backup after Redis came back");
    const mails = await smtp.waitFor(2, 10_000);
    expect(mails.map((m) => m.subject)).toEqual([
      "[shop] backups are failing",
      "[shop] backups work again",
    ]);
    expect(mails[1]?.text).toContain(`took ${audited.at(-1)}`);
  } finally {
    await schedule.stop();
    mailer.close();
  }
  // stopped: no more sets are taken, and never more than `keep` were left (looked at while
  // stopped: a set just finished is there beside the others until its prune)
  const count = audited.length;
  await Bun.sleep(1000);
  expect(audited.length).toBe(count);
  expect(readSets(backupIn(dir, 2).dir).filter((s) => typeof s.manifest !== "string")).toHaveLength(
    2,
  );
});

test("the receiver takes the first set at start when backup/enabled, audited as itself, runs backup/after, and stops cleanly", async () => {
  const backups = tempDir("dropship-receiver-backups-");
  const { receiver, dir } = await startReceiver(
    `name: shop\nbackup:\n  enabled: true\n  every: 1h\n  keep: 3\n  after: 'mkdir -p offsite && cp -r "$DROPSHIP_BACKUP_DIR" offsite/'\n`,
    crypto.randomUUID(),
    { REDIS_URL: redis.url, DROPSHIP_BACKUPS: backups },
  );
  await eventually(
    async () => readSets(backups).some((s) => typeof s.manifest !== "string"),
    15_000,
    "the receiver's first backup",
  );
  const [set] = readSets(backups);
  expect(typeof set?.manifest !== "string" && set?.manifest.by).toBe("dropship-receiver");
  // backup/after ran in the config's folder, told the set's
  await eventually(
    async () => existsSync(join(dir, "offsite", set?.name ?? "", "manifest.json")),
    10_000,
    "backup/after's copy",
  );
  // audited once backup/after is done: the set is there before
  const control = await connectTo(redis);
  const audited = async () => (await readAudit(control, { kind: "backup", limit: 50 }))[0];
  await eventually(async () => (await audited()) !== undefined, 10_000, "the audit entry");
  expect(await audited()).toMatchObject({ target: set?.name, actor: "dropship-receiver" });
  expect(await receiver.stop()).toBe(0);
  // an hour to the next: one set only
  expect(readSets(backups)).toHaveLength(1);
});

test("a set whose backup/after fails is mailed once, and not taken again before backup/every", async () => {
  const dir = tempDir("dropship-backups-after-");
  const backups = backupIn(dir, 14).dir;
  const mails: string[] = [];
  // the schedule's clock runs with the real one (the sets' times are real), ahead by `skip`
  let skip = 0;
  const schedule = startBackupSchedule(
    {
      backup: backupIn(dir, 14),
      after: { command: "exit 3", timeoutMs: 10_000, cwd: dir, say: () => {} },
      every: 24 * 3_600_000,
      site: "shop",
      say: () => {},
      notify: (mail) => mails.push(`${mail.subject}: ${mail.text.split("\n")[0]}`),
      now: () => Date.now() + skip,
    },
    20,
  );
  try {
    await eventually(async () => mails.length === 1, 15_000, "the first set's mail");
    expect(mails[0]).toMatch(
      /^\[shop\] backups are failing: The receiver's scheduled backup failed: \S+ is kept, but backup\/after failed \(exit 3\)/,
    );
    expect(readSets(backups)).toHaveLength(1);
    // past the 15 minutes a set that could not be taken is retried in: no new set
    skip += 16 * 60_000;
    await Bun.sleep(300);
    expect(readSets(backups)).toHaveLength(1);
    // a day on, the next set, and backup/after with it (failing still: no second mail)
    skip += 24 * 3_600_000;
    await eventually(async () => readSets(backups).length === 2, 15_000, "the next day's set");
    await Bun.sleep(300);
    expect(mails).toHaveLength(1);
  } finally {
    await schedule.stop();
  }
});
