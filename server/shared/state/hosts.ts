import { KEYS } from "./keys.ts";
import type { RedisClient, StateCommands } from "./redis.ts";

export interface HostReport {
  host: string;
  role: string;
  cpu: number;
  memory: number;
  /** ms since the epoch */
  at: number;
  release: string;
  /** where the host is reached, when its monitor knows */
  address?: string;
}

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
        ...(typeof value.address === "string" ? { address: value.address } : {}),
      };
    }
  } catch {
    // not a report
  }
  return undefined;
}
