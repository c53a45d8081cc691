import { KEYS } from "./keys.ts";
import type { RedisClient } from "./redis.ts";

/**
 * Scheduled jobs' runs in Redis (config jobs, pipeline/jobs.ts): each job's last run, kept by
 * the receiver and `bun run jobs`, read by them, `bun run status` and the dashboard.
 */

/** A run's record: what `bun run jobs` shows and the mail tells. */
export interface JobRun {
  job: string;
  /** the host it ran on; empty when no host could be reached */
  host: string;
  /** the release that ran there */
  release: string;
  /** ms since the epoch */
  startedAt: number;
  ms: number;
  /** its exit code; -1 when it never started */
  code: number;
  /** why it failed, in words; absent when it worked */
  fault?: string;
  /** its last lines, secrets taken out */
  tail: string[];
  /** who ran it: the receiver's schedule or a person */
  by: string;
  /** when the newest run that worked started (this one, if it did), as far as the records go */
  lastOkAt?: number;
}

/** A run as kept in Redis, read back; undefined for anything that is not one. */
export function parseJobRun(json: string): JobRun | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const r = value as Partial<Record<keyof JobRun, unknown>>;
  if (typeof r !== "object" || r === null) return undefined;
  const strings = [r.job, r.host, r.release, r.by].every((v) => typeof v === "string");
  const numbers = [r.startedAt, r.ms, r.code].every((v) => Number.isFinite(v));
  const tail = Array.isArray(r.tail) && r.tail.every((line) => typeof line === "string");
  if (!strings || !numbers || !tail) return undefined;
  if (r.fault !== undefined && typeof r.fault !== "string") return undefined;
  if (r.lastOkAt !== undefined && !Number.isFinite(r.lastOkAt)) return undefined;
  return {
    job: r.job as string,
    host: r.host as string,
    release: r.release as string,
    startedAt: r.startedAt as number,
    ms: r.ms as number,
    code: r.code as number,
    ...(typeof r.fault === "string" ? { fault: r.fault } : {}),
    tail: r.tail as string[],
    by: r.by as string,
    ...(typeof r.lastOkAt === "number" ? { lastOkAt: r.lastOkAt } : {}),
  };
}

/**
 * Keeps a run as its job's last, with when the job last worked: this run's start if it did,
 * else what the run before said. Answers the record kept.
 */
export async function saveRun(redis: RedisClient, run: JobRun): Promise<JobRun> {
  const before = parseJobRun((await redis.hget(KEYS.jobs, run.job)) ?? "");
  const lastOkAt = run.fault === undefined ? run.startedAt : before?.lastOkAt;
  const { lastOkAt: _, ...rest } = run;
  const kept: JobRun = { ...rest, ...(lastOkAt === undefined ? {} : { lastOkAt }) };
  await redis.hset(KEYS.jobs, run.job, JSON.stringify(kept));
  return kept;
}

/** Each job's last run, by name (a record that is not one is left out). */
export async function lastRuns(redis: RedisClient): Promise<Map<string, JobRun>> {
  const runs = new Map<string, JobRun>();
  for (const [name, text] of Object.entries(await redis.hgetall(KEYS.jobs))) {
    const run = parseJobRun(text);
    if (run) runs.set(name, run);
  }
  return runs;
}
