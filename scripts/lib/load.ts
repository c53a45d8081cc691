import { VISITOR_ADDRESSES } from "../../server/emulator/network.ts";
import { parseDuration } from "../../server/shared/config/duration.ts";

/** The bounds `bun run load` keeps, so a typo cannot leave a machine loaded for hours. */
export const LOAD_LIMITS = { maxMs: 10 * 60_000, maxConnections: 256, maxRate: 100_000 } as const;

export interface LoadPlan {
  durationMs: number;
  connections: number;
  /** requests a second in all, at most; as many as the connections carry when unset */
  rate?: number;
  /** addresses the connections come from, in turn; this machine's own one when unset */
  visitors?: number;
}

/**
 * `60s`, `--connections 32` and `--rate N` read and bounded; a fault names the value and the
 * fix.
 */
export function loadPlan(
  duration: string | undefined,
  connections: string | undefined,
  rate?: string,
  visitors?: string,
): LoadPlan | string {
  const durationMs = parseDuration(duration ?? "60s");
  if (durationMs === undefined || durationMs <= 0)
    return `${JSON.stringify(duration)} is not a duration — write it like 30s or 2m`;
  if (durationMs > LOAD_LIMITS.maxMs)
    return `${duration} is longer than the 10m a load may last — run it again for more`;
  const count = Number(connections ?? "32");
  if (!Number.isInteger(count) || count < 1 || count > LOAD_LIMITS.maxConnections)
    return `--connections ${connections} is not a whole number from 1 to ${LOAD_LIMITS.maxConnections}`;
  const plan: LoadPlan = { durationMs, connections: count };
  if (rate !== undefined) {
    const perSecond = Number(rate);
    if (!Number.isInteger(perSecond) || perSecond < 1 || perSecond > LOAD_LIMITS.maxRate)
      return `--rate ${rate} is not a whole number of requests a second from 1 to ${LOAD_LIMITS.maxRate}`;
    plan.rate = perSecond;
  }
  if (visitors !== undefined) {
    const addresses = Number(visitors);
    if (!Number.isInteger(addresses) || addresses < 1 || addresses > VISITOR_ADDRESSES)
      return `--visitors ${visitors} is not a whole number of addresses from 1 to ${VISITOR_ADDRESSES}`;
    if (addresses > count)
      return `--visitors ${visitors} is more than the ${count} connections that would come from them — give --connections ${addresses} or more`;
    plan.visitors = addresses;
  }
  return plan;
}

/**
 * How long a connection waits after a request sent at `sentAt` before its next (ms, on the
 * same clock as `now`): none without a rate; with one, each connection sends once every
 * connections/rate seconds, so all of them together keep to the rate.
 */
export function pauseAfter(plan: LoadPlan, sentAt: number, now: number): number {
  if (plan.rate === undefined) return 0;
  return Math.max(0, sentAt + (plan.connections * 1000) / plan.rate - now);
}

/** The demo's settings file, read as a shell would (NAME=value, single quotes around some). */
export function parseEnvFile(text: string): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const at = line.indexOf("=");
    if (at <= 0) continue;
    settings[line.slice(0, at)] = line.slice(at + 1).replace(/^'(.*)'$/, "$1");
  }
  return settings;
}

/** A latency percentile over sorted milliseconds. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
