import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { aclFile } from "../../../server/shared/state/acl.ts";
import { lastRuns } from "../../../server/shared/state/jobs.ts";
import { receiverThatStops, startReceiver } from "../../helpers/receiver.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually, expectLogged } from "../../helpers/server.ts";
import { startSmtp } from "../../helpers/smtp.ts";

// The receiver's own schedule, as it starts it from its config: a real redis-server with the
// fleet's ACL file and a real SMTP server. (Runs on hosts over SSH are tested on droplets, in
// push.integration.test.ts.)
const redis = await startRedis({ acl: (password) => aclFile(password, []) });
const smtp = await startSmtp();

test("the receiver runs its config's jobs at their minutes, as the file says now: with no hosts yet, the run fails, is kept, and mailed once", async () => {
  const before = Date.now();
  // no jobs at the start; the file is edited while it runs, as a crontab is
  const { receiver, dir } = await startReceiver("name: shop\n", crypto.randomUUID(), {
    REDIS_URL: redis.url,
    SMTP_URL: smtp.url,
    ALERT_EMAIL_TO: "ops@example.com",
  });
  expect(receiver.started).not.toContain("jobs on their schedules");
  const file = join(dir, "dropship.yml");
  // a broken edit: said, and nothing starts
  writeFileSync(
    file,
    'name: shop\njobs:\n  - { name: nightly, schedule: "* * * *", command: "true" }\n',
  );
  await eventually(
    async () =>
      receiver.stderr().includes("changed but does not validate, so everything goes on as it was"),
    10_000,
    "the receiver saying the edit does not validate",
  );
  await expectLogged(() => receiver.stderr(), 'jobs/0/schedule: "* * * *" has 4 fields');
  writeFileSync(
    file,
    'name: shop\njobs:\n  - { name: nightly, schedule: "* * * * *", time_zone: Asia/Kolkata, command: "true" }\n',
  );
  await eventually(
    async () => receiver.stdout().includes("changed its jobs"),
    10_000,
    "the receiver taking the edited jobs",
  );
  await expectLogged(
    () => receiver.stdout(),
    `dropship-receiver: ${file} changed its jobs (added nightly); on their schedules now: nightly * * * * * (Asia/Kolkata)\n`,
  );
  // the first whole minute after the schedule starts, at most a minute away (the rest: a
  // loaded machine's run and mail)
  const [mail] = await smtp.waitFor(1, 90_000);
  expect(mail?.subject).toBe("[shop] job nightly failed");
  expect(mail?.text).toStartWith("nightly: not run — no hosts yet: bun run setup makes them.\n");
  const state = await connectTo(redis);
  try {
    const run = (await lastRuns(state)).get("nightly");
    expect(run).toMatchObject({
      job: "nightly",
      host: "",
      code: -1,
      fault: "no hosts yet: bun run setup makes them",
      by: "dropship-receiver (schedule)",
    });
    // not at the receiver's start: at the first whole minute after it
    expect(run?.startedAt ?? 0).toBeGreaterThanOrEqual(Math.ceil(before / 60_000) * 60_000);
  } finally {
    state.disconnect();
  }
  // a schedule changed on the running list
  writeFileSync(
    file,
    'name: shop\njobs:\n  - { name: nightly, schedule: "0 3 1 1 *", command: "true" }\n',
  );
  await eventually(
    async () => receiver.stdout().includes("changed its jobs (changed nightly)"),
    10_000,
    "the receiver taking the changed schedule",
  );
  await expectLogged(() => receiver.stdout(), "on their schedules now: nightly 0 3 1 1 * (UTC)\n");
  expect(await receiver.stop()).toBe(0);
}, 120_000);

test("a schedule the receiver cannot read stops it at the start, naming the job and the fix", () => {
  const stopped = receiverThatStops(
    'jobs:\n  - { name: nightly, schedule: "0 3 * *", command: "true" }\n',
    crypto.randomUUID(),
  );
  expect(stopped.code).not.toBe(0);
  expect(stopped.stderr).toContain(
    'jobs/0/schedule: "0 3 * *" has 4 fields: a schedule has five (minute hour day-of-month month day-of-week)',
  );
  const zone = receiverThatStops(
    'jobs:\n  - { name: nightly, schedule: "0 3 * * *", time_zone: Europe/Paros, command: "true" }\n',
    crypto.randomUUID(),
  );
  expect(zone.code).not.toBe(0);
  expect(zone.stderr).toContain(
    'jobs/0/time_zone: "Europe/Paros" is not a time zone — did you mean Europe/Paris? give an IANA name like Europe/Berlin, America/New_York or UTC',
  );
});
