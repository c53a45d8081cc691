import { expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { startCanary } from "../../../pipeline/deploy.ts";
import { canaryBucket } from "../../../server/proxy/split.ts";
import { STEPPER_ACTOR, startCanaryStepper } from "../../../server/receiver/canary-stepper.ts";
import type { Canary } from "../../../server/shared/routing/model.ts";
import type { Step } from "../../../server/shared/routing/steps.ts";
import { aclFile } from "../../../server/shared/state/acl.ts";
import { readAudit } from "../../../server/shared/state/audit.ts";
import { ConflictError } from "../../../server/shared/state/change.ts";
import type { RedisClient } from "../../../server/shared/state/redis.ts";
import {
  CANARY_ANALYSIS_ALERT,
  changeCanary,
  clearAlert,
  raiseAlert,
  readCanary,
  readCanaryVersion,
} from "../../../server/shared/state/routing.ts";
import { addBackend, startProxy } from "../../helpers/proxy.ts";
import { startReceiver } from "../../helpers/receiver.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually } from "../../helpers/server.ts";
import { startSmtp } from "../../helpers/smtp.ts";
import { tempDir } from "../../helpers/tmp.ts";
import { startUpstream } from "../../helpers/upstream.ts";

// Canary steps (canary/steps) with real parts: a redis-server with the fleet's ACL file, the
// receiver's stepper, the `canary` verb as a person runs it, and a real proxy whose split
// follows each step.
const ROOT = resolve(import.meta.dir, "../../..");
const redis = await startRedis({ acl: (password) => aclFile(password, []) });
const control = await connectTo(redis);

function canaryVerb(args: string[]) {
  const proc = Bun.spawnSync([process.execPath, resolve(ROOT, "scripts/canary.ts"), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", REDIS_URL: redis.url, DROPSHIP_ACTOR: "ann@laptop" },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: proc.exitCode, out: proc.stdout.toString(), err: proc.stderr.toString() };
}

/** The config's canary section, at the default weight. */
const canaryOf = (steps: Step[]) => ({ weight: 30, steps });

/** A staging host's CPU alert that keeps staging out, raised now. */
const stagingCpuAlert = () => ({
  id: "cpu:staging-1",
  source: "staging-1",
  role: "staging" as const,
  summary: "CPU 95% > 50%",
  since: new Date().toISOString(),
  canary: true,
});

/** bun run status, as a person runs it on the control host, with no fleet but this Redis. */
function statusVerb(): string {
  const dir = tempDir("dropship-status-");
  const proc = Bun.spawnSync([process.execPath, resolve(ROOT, "scripts/status.ts")], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? "",
      REDIS_URL: redis.url,
      DROPSHIP_GITOPS_REPO: join(dir, "inventory"),
      DROPSHIP_WORK: join(dir, "work"),
      DROPSHIP_BACKUPS: join(dir, "backups"),
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  if (proc.exitCode !== 0) throw new Error(proc.stderr.toString());
  return proc.stdout.toString();
}

/**
 * A stepper of the test's own, looking every `tickMs`: its clock is the real one plus
 * `clock.skip`, which the test moves on; what it says is in `said`.
 */
function testStepper(client: RedisClient, tickMs: number, skip = 0) {
  const clock = { skip };
  const said: string[] = [];
  const stepper = startCanaryStepper(
    client,
    tickMs,
    (line) => said.push(line),
    () => Date.now() + clock.skip,
  );
  return { clock, said, stop: () => stepper.stop() };
}

const weightIs = (weight: number, ms = 15_000) =>
  eventually(async () => (await readCanary(control)).weight === weight, ms, `weight ${weight}%`);

test("a real receiver moves a new canary through its steps, and a real proxy's split follows each one", async () => {
  const production = startUpstream("production");
  const staging = startUpstream("staging");
  await addBackend(control, "production", production.url);
  await addBackend(control, "staging", staging.url);
  const proxy = await startProxy(redis);
  const { receiver } = await startReceiver("name: shop\n", crypto.randomUUID(), {
    REDIS_URL: redis.url,
  });
  const said: string[] = [];
  await startCanary(
    control,
    "rel-one",
    "ann",
    canaryOf([
      { weight: 10, for: 8_000 },
      { weight: 40, for: 8_000 },
      { weight: 70, for: 2_000 },
    ]),
    (line) => said.push(line),
  );
  expect(said).toEqual([
    "  canary rel-one active: 10% of new visitors",
    expect.stringMatching(/^ {2}canary steps: step 1 of 3 \(10%\), 40% in \d s$/),
  ]);
  // the same 200 visitors at each step: each on the track its bucket says, so a visitor sent
  // to staging stays there as the weight rises
  const visitors = Array.from({ length: 200 }, (_, i) => `visitor-${i}`);
  const split = async () => {
    const before = (await readCanary(control)).weight;
    const tracks: (string | null)[] = [];
    for (let i = 0; i < visitors.length; i += 20)
      tracks.push(
        ...(await Promise.all(
          visitors.slice(i, i + 20).map(async (id) => {
            const answer = await fetch(`${proxy.url}/`, {
              headers: { cookie: `dropship_client=${id}` },
            });
            await answer.arrayBuffer();
            return answer.headers.get("x-dropship-track");
          }),
        )),
      );
    expect((await readCanary(control)).weight).toBe(before);
    return { weight: before, staging: visitors.filter((_, i) => tracks[i] === "staging") };
  };
  const expected = (weight: number) =>
    visitors.filter((id) => canaryBucket("rel-one", id) < weight);

  const first = await split();
  expect(first.weight).toBe(10);
  expect(first.staging).toEqual(expected(10));
  await weightIs(40);
  const second = await split();
  expect(second.staging).toEqual(expected(40));
  expect(second.staging.length).toBeGreaterThan(first.staging.length);
  for (const id of first.staging) expect(second.staging).toContain(id);
  await weightIs(70);
  expect((await split()).staging).toEqual(expected(70));
  await eventually(
    async () => (await readCanary(control)).stepState === "done",
    10_000,
    "the steps done",
  );
  expect((await readCanary(control)).weight).toBe(70);
  // each step audited as the receiver's, from the weight before to the one after
  const steps = (await readAudit(control, { kind: "canary", limit: 20 }))
    .filter((entry) => entry.actor === STEPPER_ACTOR)
    .map((entry) => {
      const [from, to] = [entry.old, entry.new].map((json) => JSON.parse(json) as Canary);
      return `${from?.weight}→${to?.weight} ${to?.stepState}`;
    })
    .reverse();
  expect(steps).toEqual(["10→40 running", "40→70 running", "70→70 done"]);
  const status = canaryVerb(["show"]);
  expect(status.out).toBe(
    "weight 70%, active (canary rel-one deployed)\nsteps: steps done at 70%\n",
  );
  // the next tests step with clocks of their own
  expect(await receiver.stop()).toBe(0);
}, 60_000);

test("the receiver mails a person when the canary is cut off, takes visitors again (or an alert still keeps it out), waits for promote and finishes", async () => {
  const smtp = await startSmtp();
  await startCanary(control, "rel-mail", "ann", canaryOf([{ weight: 10, for: 1_000 }]), () => {});
  const { receiver } = await startReceiver("name: shop\n", crypto.randomUUID(), {
    REDIS_URL: redis.url,
    SMTP_URL: smtp.url,
    ALERT_EMAIL_TO: "ops@example.com",
  });
  try {
    // what it saw first is not mailed: the canary finishes its one step, and that is
    await eventually(async () => (await readCanary(control)).stepState === "done", 10_000, "done");
    const [done] = await smtp.waitFor(1, 10_000);
    expect(done?.subject).toBe("[shop] canary rel-mail finished its steps at 10%");
    expect(done?.text).toContain("Ship it by pushing its commit to a production branch");
    // a new canary whose second step waits for promote
    await startCanary(
      control,
      "rel-gate-mail",
      "ann",
      canaryOf([{ weight: 10, for: 1_000 }, { weight: 40 }, { weight: 60, for: 1_000 }]),
      () => {},
    );
    const [, gate] = await smtp.waitFor(2, 10_000);
    expect(gate?.subject).toBe("[shop] canary rel-gate-mail waits for promote at 40%");
    expect(gate?.text).toContain("bun run canary promote goes on to 60%");
    // the analysis cuts it off: one mail, whoever it was
    await changeCanary(
      control,
      { state: "aborted", reason: "canary analysis: staging 5xx 40% vs production 0%" },
      "dropship-proxy canary analysis",
    );
    const [, , aborted] = await smtp.waitFor(3, 10_000);
    expect(aborted?.subject).toBe("[shop] canary rel-gate-mail aborted");
    expect(aborted?.text).toContain(
      "Staging gets no new visitors: canary analysis: staging 5xx 40% vs production 0%.",
    );
    expect(canaryVerb(["resume"]).code).toBe(0);
    const [, , , again] = await smtp.waitFor(4, 10_000);
    expect(again?.subject).toBe("[shop] canary rel-gate-mail takes visitors again");
    expect(again?.text).toBe("resumed by ann@laptop: staging gets 40% of new visitors.\n");
    expect(canaryVerb(["promote"]).code).toBe(0);
    const [, , , , last] = await smtp.waitFor(5, 10_000);
    expect(last?.subject).toBe("[shop] canary rel-gate-mail finished its steps at 60%");
    // a staging host's alert aborts it (the monitor's stay_off); resumed while the alert still
    // fires, the mail says staging stays out rather than that it takes visitors
    await raiseAlert(control, stagingCpuAlert(), "dropship-monitor@staging-1");
    await changeCanary(
      control,
      { state: "aborted", reason: "alert cpu:staging-1: CPU 95% > 50%" },
      "dropship-monitor@staging-1",
    );
    const sixth = (await smtp.waitFor(6, 10_000))[5];
    expect(sixth?.subject).toBe("[shop] canary rel-gate-mail aborted");
    expect(canaryVerb(["resume"]).out).toBe(
      "canary resumed at 60%, but alert cpu:staging-1 still keeps staging out\n",
    );
    const seventh = (await smtp.waitFor(7, 10_000))[6];
    expect(seventh?.subject).toBe(
      "[shop] canary rel-gate-mail resumed, but an alert keeps staging out",
    );
    expect(seventh?.text).toContain("staging gets nothing while alert cpu:staging-1 fires");
    await clearAlert(control, "cpu:staging-1", "dropship-monitor@staging-1");
    await Bun.sleep(1_500);
    expect(smtp.mails).toHaveLength(7);
  } finally {
    expect(await receiver.stop()).toBe(0);
  }
}, 60_000);

test("abort pauses a step and resume starts its time again; a weight by hand holds the steps; promote goes on", async () => {
  const { clock, said, stop } = testStepper(control, 50);
  try {
    await startCanary(
      control,
      "rel-two",
      "ann",
      canaryOf([
        { weight: 5, for: 60_000 },
        { weight: 25, for: 60_000 },
        { weight: 50, for: 60_000 },
        { weight: 75, for: 60_000 },
      ]),
      () => {},
    );
    expect(canaryVerb(["show"]).out).toMatch(/^steps: step 1 of 4 \(5%\), 25% in (5\d|60) s$/m);
    expect(statusVerb()).toMatch(
      /^CANARY {2}weight 5%, active \(canary rel-two deployed\)\nSTEPS {3}step 1 of 4 \(5%\), 25% in (5\d|60) s$/m,
    );
    expect(canaryVerb(["abort"]).code).toBe(0);
    await eventually(
      async () => (await readCanary(control)).stepState === "paused",
      5_000,
      "paused",
    );
    clock.skip = 120_000; // well past the step's minute, but aborted: no step
    await Bun.sleep(300);
    expect((await readCanary(control)).weight).toBe(5);
    expect(canaryVerb(["resume"]).out).toBe("canary resumed at 5%\n");
    await eventually(
      async () => (await readCanary(control)).stepState === "running",
      5_000,
      "live",
    );
    // its minute starts again from the resume
    clock.skip += 50_000;
    await Bun.sleep(300);
    expect((await readCanary(control)).weight).toBe(5);
    clock.skip += 15_000;
    await weightIs(25, 5_000);
    // an alert that guards the canary pauses the step as well
    await raiseAlert(control, stagingCpuAlert(), "test");
    await eventually(
      async () => (await readCanary(control)).stepState === "paused",
      5_000,
      "paused by the alert",
    );
    clock.skip += 120_000;
    await Bun.sleep(300);
    expect((await readCanary(control)).weight).toBe(25);
    await clearAlert(control, "cpu:staging-1", "test");
    await eventually(
      async () => (await readCanary(control)).stepState === "running",
      5_000,
      "live again",
    );

    // a weight set by hand: the steps hold there, whatever the time
    expect(canaryVerb(["weight", "35"]).code).toBe(0);
    await eventually(async () => (await readCanary(control)).stepState === "held", 5_000, "held");
    clock.skip += 600_000;
    await Bun.sleep(300);
    expect((await readCanary(control)).weight).toBe(35);
    expect(said).toContain(
      "canary rel-two: its weight was set to 35% outside its steps (step 2 of 4 is 25%) — the steps are held there; bun run canary promote goes on to the next",
    );
    expect(canaryVerb(["show"]).out).toContain(
      "steps: step 2 of 4 (25%), held: the weight was set by hand (bun run canary promote goes on)",
    );
    // promote: the next step, and the steps go on from there. The verb stamps the step with
    // the real time, so the stepper's clock is the real one again until the test moves it on
    clock.skip = 0;
    const promoted = canaryVerb(["promote"]);
    expect(promoted).toMatchObject({
      code: 0,
      out: "canary rel-two: promoted to step 3 of 4 — 35% → 50% of new visitors for 1m\n",
    });
    expect(await readCanary(control)).toMatchObject({ weight: 50, step: 2, stepState: "running" });
    const [audited] = await readAudit(control, { kind: "canary", limit: 1 });
    expect(audited?.actor).toBe("ann@laptop");
    clock.skip += 61_000;
    await weightIs(75, 5_000);
    // the last step: promote refuses and says what comes next
    const last = canaryVerb(["promote"]);
    expect(last.code).toBe(1);
    expect(last.err).toContain(
      "canary rel-two is at its last step (75%) — what comes next is shipping it to production (a push to a production branch)",
    );
    expect((await readCanary(control)).weight).toBe(75);
  } finally {
    await stop();
  }
}, 60_000);

test("without steps a new canary starts at canary/weight, whatever the last was set to; the stepper leaves it, and promote says why not", async () => {
  // the last canary was set to 80% by hand: that was for it, not for the next
  await changeCanary(control, { weight: 80 }, "test");
  const said: string[] = [];
  await startCanary(control, "rel-three", "ann", { weight: 15, steps: [] }, (line) =>
    said.push(line),
  );
  expect(said).toEqual(["  canary rel-three active: 15% of new visitors"]);
  const { stop } = testStepper(control, 20, 3_600_000);
  await Bun.sleep(200);
  await stop();
  expect(await readCanary(control)).toMatchObject({ weight: 15, stepState: "none" });
  const promote = canaryVerb(["promote"]);
  expect(promote.code).toBe(1);
  expect(promote.err).toContain("canary rel-three has no steps");
  expect(canaryVerb(["show"]).out).toBe("weight 15%, active (canary rel-three deployed)\n");
});

test("a step without a time is stored as one and waits for promote", async () => {
  await startCanary(
    control,
    "rel-gate",
    "ann",
    canaryOf([{ weight: 10, for: 60_000 }, { weight: 30 }, { weight: 60, for: 60_000 }]),
    () => {},
  );
  // through the change script's JSON and back, the step keeps having no time
  expect((await readCanary(control)).steps).toEqual([
    { weight: 10, for: 60_000 },
    { weight: 30 },
    { weight: 60, for: 60_000 },
  ]);
  const { clock, stop } = testStepper(control, 20, 61_000);
  try {
    await weightIs(30, 5_000);
    clock.skip += 600 * 60_000;
    await Bun.sleep(200);
    expect(await readCanary(control)).toMatchObject({ weight: 30, step: 1, stepState: "running" });
    expect(canaryVerb(["show"]).out).toContain(
      "steps: step 2 of 3 (30%), 60% once promoted (bun run canary promote)",
    );
    expect(canaryVerb(["promote"]).out).toBe(
      "canary rel-gate: promoted to step 3 of 3 — 30% → 60% of new visitors for 1m\n",
    );
  } finally {
    await stop();
  }
});

test("a change on condition is refused, and changes nothing, once someone changed the canary since it was read", async () => {
  const { version } = await readCanaryVersion(control);
  await changeCanary(control, { weight: 20 }, "bob");
  const before = await control.hgetall("dropship:canary");
  const audited = (await readAudit(control, { limit: 1 }))[0]?.id;
  await expect(
    changeCanary(control, { weight: 90 }, STEPPER_ACTOR, version),
  ).rejects.toBeInstanceOf(ConflictError);
  expect(await control.hgetall("dropship:canary")).toEqual(before);
  expect((await readAudit(control, { limit: 1 }))[0]?.id).toBe(audited);
  // with the version read now it is made
  const now = await readCanaryVersion(control);
  await changeCanary(control, { weight: 90 }, STEPPER_ACTOR, now.version);
  expect((await readCanary(control)).weight).toBe(90);
  await clearAlert(control, CANARY_ANALYSIS_ALERT, "test");
});

test("while Redis is gone the steps wait, said once, and go on when it is back", async () => {
  const own = await startRedis({ acl: (password) => aclFile(password, []) });
  const client = await connectTo(own);
  await startCanary(
    client,
    "rel-four",
    "ann",
    canaryOf([
      { weight: 10, for: 60_000 },
      { weight: 20, for: 60_000 },
    ]),
    () => {},
  );
  const { clock, said, stop } = testStepper(client, 50);
  try {
    await own.stop();
    await eventually(
      async () => said.some((l) => l.startsWith("canary steps: waiting")),
      10_000,
      "waiting",
    );
    await Bun.sleep(500);
    expect(said.filter((l) => l.startsWith("canary steps: waiting"))).toHaveLength(1);
    clock.skip = 61_000;
    await own.start();
    await eventually(async () => (await readCanary(client)).weight === 20, 15_000, "the next step");
    expect(said).toContain("canary steps: Redis answers again");
  } finally {
    await stop();
  }
}, 40_000);
