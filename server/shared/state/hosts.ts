import { KEYS } from "./keys.ts";
import type { RedisClient } from "./redis.ts";

export interface HostReport {
  host: string;
  role: string;
  cpu: number;
  memory: number;
  /** ms since the epoch */
  at: number;
  release: string;
}

/** Samples kept per host: ten minutes at the default 5 s interval. */
export const HISTORY_LENGTH = 120;

/** Stores a host's latest figures and appends them to its short history, in one round trip. */
export async function reportHost(redis: RedisClient, report: HostReport): Promise<void> {
  const json = JSON.stringify(report);
  await redis
    .multi()
    .hset(KEYS.hosts, report.host, json)
    .lpush(KEYS.history(report.host), json)
    .ltrim(KEYS.history(report.host), 0, HISTORY_LENGTH - 1)
    .exec();
}

export async function listHosts(redis: RedisClient): Promise<HostReport[]> {
  const raw = await redis.hgetall(KEYS.hosts);
  return Object.values(raw).flatMap((json) => {
    const report = parseReport(json);
    return report ? [report] : [];
  });
}

export async function hostHistory(redis: RedisClient, host: string): Promise<HostReport[]> {
  const raw = await redis.lrange(KEYS.history(host), 0, HISTORY_LENGTH - 1);
  return raw.flatMap((json) => {
    const report = parseReport(json);
    return report ? [report] : [];
  });
}

function parseReport(json: string): HostReport | undefined {
  try {
    const value = JSON.parse(json) as Partial<HostReport>;
    if (typeof value.host === "string" && typeof value.at === "number") {
      return {
        host: value.host,
        role: String(value.role ?? ""),
        cpu: Number(value.cpu ?? 0),
        memory: Number(value.memory ?? 0),
        at: value.at,
        release: String(value.release ?? ""),
      };
    }
  } catch {
    // not a report
  }
  return undefined;
}
