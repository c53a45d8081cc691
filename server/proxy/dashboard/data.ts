import { hostname } from "node:os";
import { fleetRows } from "../../shared/fleet-view.ts";
import { recentEvents } from "../../shared/state/events.ts";
import { type HostReport, listHosts } from "../../shared/state/hosts.ts";
import { lastRuns } from "../../shared/state/jobs.ts";
import { KEYS } from "../../shared/state/keys.ts";
import type { RedisClient } from "../../shared/state/redis.ts";
import type { Metrics } from "../metrics.ts";
import type { statusOf } from "../status.ts";

/** uPlot's data shape: [seconds since the epoch[], CPU %[], memory %[]], oldest first. */
export type ChartData = [number[], number[], number[]];

/** A scheduled job's last run as the dashboard shows it: where, how it ended, not what it printed. */
interface DashboardJob {
  name: string;
  at: string;
  host: string;
  release: string;
  /** "ok", or the fault in words */
  result: string;
  seconds: string;
  by: string;
}

/** How long the dashboard waits for Redis before drawing what the proxy itself knows. */
const REDIS_WAIT_MS = 1000;

/** Samples per chart: ten minutes at the monitor's default 5 s. */
const CHART_POINTS = 120;

/** Turns a host's history (newest first, as stored) into a chart's columns. */
export function chartOf(history: HostReport[]): ChartData {
  const oldestFirst = [...history].reverse();
  return [
    oldestFirst.map((r) => r.at / 1000),
    oldestFirst.map((r) => r.cpu),
    oldestFirst.map((r) => r.memory),
  ];
}

/**
 * Everything the dashboard draws, in one answer: the proxy's own view (canary, backends,
 * flags, traffic by track) and, from Redis, the monitors' figures and history, the last
 * deploys, scaling events and each scheduled job's last run (without its output). With Redis
 * down the proxy's part still comes, with a problem.
 */
export async function dashboardData(
  status: ReturnType<typeof statusOf>,
  metrics: Metrics,
  redis: RedisClient,
  now = Date.now(),
) {
  let reports: HostReport[] = [];
  let charts: Record<string, ChartData> = {};
  let deploys: Record<string, string>[] = [];
  let scaling: Record<string, string>[] = [];
  let jobs: DashboardJob[] = [];
  let problem: string | undefined;
  try {
    await withTimeout(
      (async () => {
        reports = await listHosts(redis);
        const histories = await Promise.all(
          reports.map((r) => redis.lrange(KEYS.history(r.host), 0, CHART_POINTS - 1)),
        );
        charts = Object.fromEntries(
          reports.map((r, i) => [r.host, chartOf(parseReports(histories[i] ?? []))]),
        );
        let runs: Awaited<ReturnType<typeof lastRuns>>;
        [deploys, scaling, runs] = await Promise.all([
          recentEvents(redis, KEYS.deploys, 8),
          recentEvents(redis, KEYS.scaling, 8),
          lastRuns(redis),
        ]);
        jobs = [...runs.values()]
          .sort((a, b) => a.job.localeCompare(b.job))
          .map((run) => ({
            name: run.job,
            at: new Date(run.startedAt).toISOString(),
            host: run.host,
            release: run.release,
            result: run.fault ?? "ok",
            seconds: (run.ms / 1000).toFixed(1),
            by: run.by,
          }));
      })(),
      REDIS_WAIT_MS,
    );
  } catch (error) {
    problem = `Redis unreachable (${(error as Error).message}): hosts' figures, deploys, scaling and jobs are not shown; routing goes on.`;
  }
  if (status.state.stale && !problem)
    problem = "The routing table may be stale: Redis unreachable.";
  const hosts = fleetRows({
    inventory: [],
    reports,
    backends: status.backends.map((b) => ({
      id: b.id,
      url: b.url,
      track: b.track,
      draining: b.draining,
    })),
    proxy: status.backends,
    now,
  });
  return {
    version: status.version,
    // with several proxies each draws its own traffic and in-flight requests: say whose
    host: hostname(),
    canary: status.canary,
    maintenance: status.maintenance,
    alerts: status.alerts,
    flags: status.flags,
    certificates: status.certificates,
    traffic: metrics.totals(),
    hosts,
    charts,
    deploys,
    scaling,
    jobs,
    ...(problem ? { problem } : {}),
  };
}

function parseReports(items: string[]): HostReport[] {
  return items.flatMap((json) => {
    try {
      return [JSON.parse(json) as HostReport];
    } catch {
      return [];
    }
  });
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    work,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms).unref(),
    ),
  ]);
}
