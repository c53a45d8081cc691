import type { Static } from "@sinclair/typebox";
import { hostReport } from "../records/checks.ts";
import { KEYS } from "./keys.ts";
import type { RedisClient, StateCommands } from "./redis.ts";
import type { HostReportRecord } from "./schema.ts";

export type HostReport = Static<typeof HostReportRecord>;

/** Samples kept per host: ten minutes at the default 5 s interval. */
export const HISTORY_LENGTH = 120;

const REPORT = `
redis.call('SET', KEYS[1], ARGV[1])
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1)
`;

/** Stores a host's latest figures and appends them to its short history, in one round trip. */
export async function reportHost(redis: StateCommands, report: HostReport): Promise<void> {
  const json = JSON.stringify(report);
  await redis.eval(
    REPORT,
    2,
    KEYS.host(report.host),
    KEYS.history(report.host),
    json,
    HISTORY_LENGTH,
  );
}

/**
 * How long a replacement's mark lasts at most: a heal that has not ended by then (or a receiver
 * that died mid-heal) no longer keeps the host's silence from being raised.
 */
const REPLACING_TTL_S = 15 * 60;

/** Marks a host as being replaced by the heal, saying why; forgetHost or unmarkReplacing ends it. */
export async function markReplacing(redis: RedisClient, host: string, why: string): Promise<void> {
  await redis.set(KEYS.replacing(host), why, "EX", REPLACING_TTL_S);
}

/** A replacement that failed: the host is no longer being replaced. */
export async function unmarkReplacing(redis: RedisClient, host: string): Promise<void> {
  await redis.del(KEYS.replacing(host));
}

// names as arguments, not KEYS: EVAL asks write access to its declared keys, and a monitor's
// user may only read these (the scan above is so too)
const MARKS = "return redis.call('MGET', unpack(ARGV))";

/** Which of these hosts the heal is replacing now, with why, in one round trip. */
export async function beingReplaced(
  redis: StateCommands,
  hosts: readonly string[],
): Promise<Map<string, string>> {
  if (hosts.length === 0) return new Map();
  const raw = (await redis.eval(MARKS, 0, ...hosts.map(KEYS.replacing))) as (string | null)[];
  return new Map(hosts.flatMap((host, i) => (raw[i] ? [[host, raw[i] as string]] : [])));
}

// Every host's latest figures: a scan over the per-host keys, in one round trip.
const LIST = `
local keys, cursor = {}, '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do keys[#keys + 1] = key end
until cursor == '0'
if #keys == 0 then return {} end
return redis.call('MGET', unpack(keys))
`;

export async function listHosts(redis: StateCommands): Promise<HostReport[]> {
  const raw = (await redis.eval(LIST, 0, KEYS.host("*"))) as (string | null)[];
  return raw.flatMap((json) => {
    const report = json ? parseReport(json) : undefined;
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
