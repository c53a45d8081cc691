import { readFleet } from "../pipeline/fleet.ts";
import { jobOutputCleaner, restingNow, runJob } from "../pipeline/job-run.ts";
import { ago, describeOutcome, describeRun, type Job, nextRunOf } from "../pipeline/jobs.ts";
import { formatDuration } from "../server/shared/config/duration.ts";
import { wallTimeAt } from "../server/shared/config/time-zone.ts";
import { lastRuns, saveRun } from "../server/shared/state/jobs.ts";
import { auditAction } from "./lib/audit.ts";
import { ArgumentError, FLEET_ENV, runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { receiverSettings, settingsWithHostsIfAny } from "./lib/receiver-env.ts";
import { actor, cliRedis } from "./lib/redis.ts";
import { printTable } from "./lib/table.ts";

const SPEC = {
  verb: "jobs",
  usage: ["jobs [list]", "jobs show NAME", "jobs run NAME [--host HOST]"],
  about: `The commands config/jobs runs on a schedule (the receiver runs each, in UTC, on one host of
its role, as the app's user, in the release that runs there, with the app's settings). list
shows each job's schedule, next run and last run (from Redis when REDIS_URL is set); show
one job's, with the last lines its last run printed. run runs one now, on HOST or on the host its schedule would pick, with its output as it comes
and its exit code as this command's; audited as exec is.`,
  options: {
    host: { type: "string", value: "HOST", description: "run on this host of the job's role" },
  },
  env: [...FLEET_ENV, "REDIS_URL", "DROPSHIP_ACTOR"],
  positionals: 2,
} satisfies VerbSpec;

await runVerb(SPEC, async ({ positionals: [verb = "list", name], values }) => {
  if (verb === "list" && name === undefined && values.host === undefined) return list();
  if (verb === "show" && name !== undefined && values.host === undefined) return show(name);
  if (verb === "run" && name !== undefined) return run(name, values.host as string | undefined);
  throw new ArgumentError(
    verb === "run" || verb === "show"
      ? `name the job to ${verb}`
      : `cannot ${[verb, name].filter(Boolean).join(" ")}`,
  );
});

function jobNamed(jobs: readonly Job[], name: string): Job {
  const job = jobs.find((j) => j.name === name);
  if (!job)
    throw new UsageError(
      jobs.length === 0
        ? `no job ${name}: the config has no jobs (add them under jobs in dropship.yml)`
        : `no job ${name}; the config's jobs are ${jobs.map((j) => j.name).join(", ")}`,
    );
  return job;
}

async function list() {
  const { config } = settingsWithHostsIfAny();
  if (config.jobs.length === 0) {
    console.log("no jobs: add them under jobs in dropship.yml (docs/config.md)");
    return;
  }
  const runs = process.env.REDIS_URL ? await readRuns() : undefined;
  const now = Date.now();
  const rows = config.jobs.map((job) => {
    const next = nextRunOf(job, now);
    const last = runs?.get(job.name);
    return [
      job.name,
      job.role,
      scheduleOn(job),
      next === undefined ? "never" : new Date(next).toISOString().slice(0, 16).replace("T", " "),
      runs === undefined
        ? "(REDIS_URL is not set)"
        : last
          ? `${describeOutcome(last)}, ${ago(now - last.startedAt)} by ${last.by}`
          : "none yet",
    ];
  });
  printTable([["NAME", "ROLE", "SCHEDULE", "NEXT (UTC)", "LAST"], ...rows]);
}

async function show(name: string) {
  const { config } = settingsWithHostsIfAny();
  const job = jobNamed(config.jobs, name);
  const next = nextRunOf(job, Date.now());
  console.log(`${job.name}: ${job.command}`);
  console.log(
    `  on a ${job.role} host at ${job.schedule} (${job.time_zone}), next ${nextWords(job, next)}; stopped after ${formatDuration(job.timeout)}`,
  );
  if (!process.env.REDIS_URL) {
    console.log("  last run: not known here (REDIS_URL is not set: the runs are kept in Redis)");
    return;
  }
  const last = (await readRuns()).get(job.name);
  if (!last) {
    console.log("  last run: none yet");
    return;
  }
  console.log(
    `  last run: ${describeOutcome(last)}, at ${new Date(last.startedAt).toISOString()} by ${last.by}`,
  );
  if (last.fault)
    console.log(
      last.lastOkAt === undefined
        ? "  last worked: not in the records kept"
        : `  last worked: the run at ${new Date(last.lastOkAt).toISOString()} (${ago(Date.now() - last.lastOkAt)})`,
    );
  console.log(last.tail.length > 0 ? "  its last lines:" : "  it printed nothing");
  for (const line of last.tail) console.log(`    ${line}`);
}

async function readRuns() {
  const redis = await cliRedis();
  try {
    return await lastRuns(redis);
  } finally {
    redis.disconnect();
  }
}

/**
 * The hosts out of the rotation, so a run goes elsewhere when it can (job-run.ts's
 * restingNow); with Redis down, none are known and the run goes on, said once.
 */
async function restingFromCli(hosts: Parameters<typeof restingNow>[1]): Promise<Set<string>> {
  let redis: Awaited<ReturnType<typeof cliRedis>>;
  try {
    redis = await cliRedis();
  } catch (error) {
    console.error(`(the rotation is not known, any host will do: ${(error as Error).message})`);
    return new Set();
  }
  try {
    return await restingNow(redis, hosts);
  } finally {
    redis.disconnect();
  }
}

async function run(name: string, host: string | undefined) {
  const settings = receiverSettings();
  const job = jobNamed(settings.config.jobs, name);
  let unaudited: string | undefined;
  const fleet = readFleet(settings.fleet.inventories);
  const done = await runJob({
    fleet,
    job,
    ...(host === undefined ? {} : { host }),
    ...(host === undefined && process.env.REDIS_URL
      ? { resting: await restingFromCli(fleet.hosts) }
      : {}),
    by: actor(),
    clean: jobOutputCleaner(),
    onLine: (line) => console.log(line),
    before: async (ssh) => {
      unaudited = await auditAction(
        { kind: "job", target: job.name, what: `job ${job.name}: ${job.command}` },
        [ssh],
      );
    },
  }).catch((error: Error) => {
    throw new UsageError(error.message);
  });
  if (unaudited) console.error(unaudited);
  if (process.env.REDIS_URL) {
    const redis = await cliRedis();
    try {
      await saveRun(redis, done);
    } catch (error) {
      console.error(`(the run was not kept in Redis: ${(error as Error).message})`);
    } finally {
      redis.disconnect();
    }
  }
  console.error(`${done.fault ? "✗" : "✓"} ${describeRun(done)}`);
  process.exitCode = done.code === 0 ? 0 : done.code > 0 ? done.code : 1;
}

/** A job's schedule, with the clock it is read on unless that is UTC's: `30 3 * * * Europe/Berlin`. */
function scheduleOn(job: Job): string {
  return job.time_zone === "UTC" ? job.schedule : `${job.schedule} ${job.time_zone}`;
}

/** The next run's time, and the job's clock's too when that is not UTC's. */
function nextWords(job: Job, next: number | undefined): string {
  if (next === undefined) return "never";
  const at = new Date(next).toISOString();
  return job.time_zone === "UTC" ? at : `${at} (${localTime(next, job.time_zone)} there)`;
}

/** `2026-12-07 04:30` as the clock in `zone` shows `instant`. */
function localTime(instant: number, zone: string): string {
  return new Date(wallTimeAt(instant, zone)).toISOString().slice(0, 16).replace("T", " ");
}
