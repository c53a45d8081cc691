import type { Static } from "@sinclair/typebox";
import { hostReport } from "../records/checks.ts";
import { KEYS } from "./keys.ts";
import type { RedisClient, StateCommands } from "./redis.ts";
import type { HostReportRecord } from "./schema.ts";

export type HostReport = Static<typeof HostReportRecord>;

/** Samples kept per host: ten minutes at the default 5 s interval. */
export const HISTORY_LENGTH = 120;

const REPORT = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
`;

/** Stores a host's latest figures and appends them to its short history, in one round trip. */
export async function reportHost(redis: StateCommands, report: HostReport): Promise<void> {
  const json = JSON.stringify(report);
  await redis.eval(
    REPORT,
    2,
    KEYS.hosts,
    KEYS.history(report.host),
    report.host,
    json,
    HISTORY_LENGTH,
  );
}

export async function listHosts(redis: StateCommands): Promise<HostReport[]> {
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

const parseReport = (json: string) => hostReport.read(json);
