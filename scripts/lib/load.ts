import { parseDuration } from "../../server/shared/config/duration.ts";

/** The bounds `bun run load` keeps, so a typo cannot leave a machine loaded for hours. */
export const LOAD_LIMITS = { maxMs: 10 * 60_000, maxConnections: 256 } as const;

export interface LoadPlan {
  durationMs: number;
  connections: number;
}

/** `60s` and `--connections 32` read and bounded; a fault names the value and the fix. */
export function loadPlan(
  duration: string | undefined,
  connections: string | undefined,
): LoadPlan | string {
  const durationMs = parseDuration(duration ?? "60s");
  if (durationMs === undefined || durationMs <= 0)
    return `${JSON.stringify(duration)} is not a duration — write it like 30s or 2m`;
  if (durationMs > LOAD_LIMITS.maxMs)
    return `${duration} is longer than the 10m a load may last — run it again for more`;
  const count = Number(connections ?? "32");
  if (!Number.isInteger(count) || count < 1 || count > LOAD_LIMITS.maxConnections)
    return `--connections ${connections} is not a whole number from 1 to ${LOAD_LIMITS.maxConnections}`;
  return { durationMs, connections: count };
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
