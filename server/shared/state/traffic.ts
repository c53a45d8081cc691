import { KEYS } from "./keys.ts";
import type { StateCommands } from "./redis.ts";

export interface TrafficReport {
  /** the proxy instance, host:port */
  proxy: string;
  /** requests per second over the last report interval */
  rps: number;
  /** ms since the epoch */
  at: number;
}

/** A proxy's request rate, for the autoscaler's requests-per-host metric and the dashboard. */
export async function reportTraffic(redis: StateCommands, report: TrafficReport): Promise<void> {
  await redis.eval(
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])",
    1,
    KEYS.traffic,
    report.proxy,
    JSON.stringify(report),
  );
}

/** Every proxy's latest rate that is younger than `freshMs`. */
export async function readTraffic(
  redis: StateCommands,
  freshMs: number,
  now = Date.now(),
): Promise<TrafficReport[]> {
  const raw = await redis.hgetall(KEYS.traffic);
  return Object.values(raw).flatMap((json) => {
    try {
      const report = JSON.parse(json) as TrafficReport;
      return now - report.at < freshMs ? [report] : [];
    } catch {
      return [];
    }
  });
}

/** Requests per second between two readings of a monotonic request counter. */
export function rateBetween(
  before: { count: number; at: number },
  after: { count: number; at: number },
): number {
  const seconds = (after.at - before.at) / 1000;
  return seconds > 0 ? Math.max(0, after.count - before.count) / seconds : 0;
}
