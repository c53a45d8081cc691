import { type CronSchedule, nextRunIn, parseCron } from "../server/shared/config/cron.ts";
import { formatDuration } from "../server/shared/config/duration.ts";
import type { Config } from "../server/shared/config/schema.ts";
import { asApp } from "../server/shared/host/as-app.ts";
import type { Mail } from "../server/shared/mailer.ts";
import type { JobRun } from "../server/shared/state/jobs.ts";
import type { FleetHost } from "./fleet.ts";

/**
 * Scheduled jobs (config `jobs`), the pure part: when each is due, which host runs it, the
 * command that runs it there, and what is said and mailed about a run.
 */
export type Job = Config["jobs"][number];

export { APP_USER } from "../server/shared/host/as-app.ts";
export type { JobRun };

/** Lines of a run's output kept with its record and put in its mail. */
export const TAIL_LINES = 20;

/**
 * The jobs with a minute of their schedule in (since, now]: each runs once, however many of
 * its minutes went by (a receiver that was down does not catch up, as cron does not).
 */
export function dueJobs(jobs: readonly Job[], since: number, now: number): Job[] {
  return jobs.filter((job) => {
    const at = nextRunOf(job, since);
    return at !== undefined && at <= now;
  });
}

/** When a job runs next after `now`, its schedule read on its time zone's clock. */
export function nextRunOf(
  job: Pick<Job, "schedule" | "time_zone">,
  now: number,
): number | undefined {
  return nextRunIn(scheduleOf(job.schedule), now, job.time_zone);
}

// the receiver asks every second: each schedule is read once (the config validated them all)
const schedules = new Map<string, CronSchedule>();
function scheduleOf(text: string): CronSchedule {
  let schedule = schedules.get(text);
  if (!schedule) {
    schedule = parseCron(text);
    schedules.set(text, schedule);
  }
  return schedule;
}

/**
 * The hosts to try for a run, in order: the job's role's, from one picked by the job's name,
 * so the jobs of a fleet spread over its hosts and each keeps to one while that one answers.
 * Hosts out of the rotation (`resting`: drained by a person or a deploy) go after the others,
 * as a cordoned node gets no new work, but are still tried when no other answers. A host
 * named by a person must be one of the role's, resting or not.
 */
export function jobHosts(
  job: Job,
  hosts: readonly FleetHost[],
  named?: string,
  resting: ReadonlySet<string> = new Set(),
): FleetHost[] {
  const ofRole = hosts
    .filter((h) => h.role === job.role)
    .sort((a, b) => a.name.localeCompare(b.name));
  if (named !== undefined) {
    const host = ofRole.find((h) => h.name === named);
    if (!host) {
      const other = hosts.find((h) => h.name === named);
      throw new Error(
        other
          ? `${named} is a ${other.role} host, and ${job.name} runs on ${job.role} hosts: name one of ${ofRole.map((h) => h.name).join(", ") || "none"}`
          : `no host ${named} in the fleet; ${job.name} runs on ${job.role} hosts: ${ofRole.map((h) => h.name).join(", ") || "none"}`,
      );
    }
    return [host];
  }
  if (ofRole.length === 0) return [];
  const first = stableHash(job.name) % ofRole.length;
  const inTurn = [...ofRole.slice(first), ...ofRole.slice(0, first)];
  return [
    ...inTurn.filter((h) => !resting.has(h.name)),
    ...inTurn.filter((h) => resting.has(h.name)),
  ];
}

/**
 * The app hosts out of the proxies' rotation: those the routing table has no backend taking
 * new requests for (every one of theirs draining, or none at all). Read by address, as the
 * table names backends by URL.
 */
export function restingHosts(
  hosts: readonly FleetHost[],
  backends: readonly { url: string; draining: boolean }[],
): Set<string> {
  const serving = new Set<string>();
  for (const backend of backends) {
    if (backend.draining) continue;
    try {
      serving.add(new URL(backend.url).hostname.replace(/^\[(.*)\]$/, "$1"));
    } catch {
      // a URL a person mistyped into the table serves no one
    }
  }
  return new Set(
    hosts
      .filter((h) => (h.role === "production" || h.role === "staging") && !serving.has(h.address))
      .map((h) => h.name),
  );
}

function stableHash(text: string): number {
  let hash = 2166136261;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619);
  return hash >>> 0;
}

/** The command that runs a job on its host: the app's, as asApp() runs it, stopped at its timeout. */
export function jobCommand(job: Pick<Job, "name" | "command" | "timeout">): string {
  return asApp(job.command, { env: { DROPSHIP_JOB: job.name }, timeoutMs: job.timeout });
}

/** What a run's exit code says, in words; undefined for success. */
export function runFault(job: Pick<Job, "timeout">, code: number): string | undefined {
  if (code === 0) return undefined;
  // timeout's own codes: 124 stopped, 137 killed after --kill-after
  if (code === 124 || code === 137)
    return `still running after ${formatDuration(job.timeout)} (its timeout), so it was stopped`;
  return `exit ${code}`;
}

/** One line about a run. */
export function describeRun(run: JobRun): string {
  return `${run.job}${run.host ? " " : ": "}${describeOutcome(run)}`;
}

/** The same without the job's name: where it ran and how it ended. */
export function describeOutcome(run: JobRun): string {
  const took = formatSeconds(run.ms);
  if (!run.host) return `not run — ${run.fault ?? "no host"}`;
  const where = `on ${run.host}${run.release ? ` (${run.release})` : ""}`;
  return run.fault ? `${where}: failed after ${took}, ${run.fault}` : `${where}: ok in ${took}`;
}

function formatSeconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : formatDuration(Math.round(ms / 1000) * 1000);
}

/**
 * The mail about a run, once a job starts failing and once it works again, never for each
 * failed run in between (as the monitor's alerts): `failing` is the job's state before it.
 */
export function jobMail(
  failing: boolean,
  run: JobRun,
  site: string,
): { failing: boolean; mail?: Mail } {
  if (run.fault && !failing) {
    const output =
      run.tail.length > 0
        ? `\nIts last lines:\n\n${run.tail.map((line) => `  ${line}`).join("\n")}\n`
        : "\nIt printed nothing.\n";
    return {
      failing: true,
      mail: {
        subject: `[${site}] job ${run.job} failed`,
        text: `${describeRun(run)}.\n${output}\nThe schedule goes on: this is the only mail until a run works again. bun run jobs run ${run.job} runs it now, with its output; bun run jobs shows each job's last run.\n`,
      },
    };
  }
  if (!run.fault && failing)
    return {
      failing: false,
      mail: { subject: `[${site}] job ${run.job} works again`, text: `${describeRun(run)}.\n` },
    };
  return { failing };
}

/** Keeps a run's last lines: the newest TAIL_LINES, each cut to a readable length. */
export function keepTail(tail: string[], line: string): void {
  tail.push(line.length > 500 ? `${line.slice(0, 500)}…` : line);
  if (tail.length > TAIL_LINES) tail.shift();
}

/** How long ago, in words: `just now`, `14 min ago`, `3 h ago`, `2 days ago`. */
export function ago(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 1) return "just now";
  if (minutes < 120) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  return hours < 48 ? `${hours} h ago` : `${Math.round(hours / 24)} days ago`;
}

/**
 * What changed between the jobs a receiver runs and those its config now lists, by name
 * (`added x; changed y; removed z`), or undefined when nothing did.
 */
export function jobsChange(before: readonly Job[], after: readonly Job[]): string | undefined {
  const was = new Map(before.map((job) => [job.name, JSON.stringify(job)]));
  const is = new Set(after.map((job) => job.name));
  const added = after.filter((job) => !was.has(job.name)).map((job) => job.name);
  const changed = after
    .filter((job) => was.has(job.name) && was.get(job.name) !== JSON.stringify(job))
    .map((job) => job.name);
  const removed = before.filter((job) => !is.has(job.name)).map((job) => job.name);
  const parts = [
    added.length > 0 ? `added ${added.join(", ")}` : "",
    changed.length > 0 ? `changed ${changed.join(", ")}` : "",
    removed.length > 0 ? `removed ${removed.join(", ")}` : "",
  ].filter(Boolean);
  return parts.length > 0 ? parts.join("; ") : undefined;
}

/** The jobs as the receiver says them: `nightly 30 2 * * * (Europe/Berlin), …`, or `none`. */
export function describeSchedules(jobs: readonly Job[]): string {
  if (jobs.length === 0) return "none";
  return jobs.map((job) => `${job.name} ${job.schedule} (${job.time_zone})`).join(", ");
}

/** The status line about the jobs: how each one's last run ended, and when. */
export function describeJobs(
  jobs: readonly Job[],
  runs: ReadonlyMap<string, JobRun>,
  now: number,
): string {
  return jobs
    .map((job) => {
      const last = runs.get(job.name);
      if (!last) return `${job.name} not run yet`;
      return `${job.name} ${last.fault ? `failed (${last.fault})` : "ok"} ${ago(now - last.startedAt)}`;
    })
    .join(", ");
}
