import type { Track } from "../shared/routing/model.ts";

/** Latency buckets in seconds, as Prometheus' client libraries default to. */
export const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Series {
  track: Track;
  backend: string;
  requests: Map<number, number>;
  buckets: number[];
  sum: number;
  count: number;
}

/** Requests by status, and latency histograms, per track and backend. */
export class Metrics {
  private readonly series = new Map<string, Series>();
  private readonly refusals = new Map<number, number>();

  /** A request the proxy answered itself without choosing a backend (400, 405). */
  refused(status: number): void {
    this.refusals.set(status, (this.refusals.get(status) ?? 0) + 1);
  }

  /** the same series by track, then backend: no key to build on the hot path */
  private readonly byTrack: Record<Track, Map<string, Series>> = {
    production: new Map(),
    staging: new Map(),
  };

  private seriesOf(track: Track, backend: string): Series {
    let series = this.byTrack[track].get(backend);
    if (!series) {
      series = {
        track,
        backend,
        requests: new Map(),
        buckets: BUCKETS.map(() => 0),
        sum: 0,
        count: 0,
      };
      this.series.set(`${track}\u0000${backend}`, series);
      this.byTrack[track].set(backend, series);
    }
    return series;
  }

  /** Every counter as plain data, for a proxy worker to send to its supervisor. */
  snapshot(): MetricsSnapshot {
    return {
      series: [...this.series.values()].map((s) => ({
        track: s.track,
        backend: s.backend,
        requests: [...s.requests],
        buckets: [...s.buckets],
        sum: s.sum,
        count: s.count,
      })),
      refusals: [...this.refusals],
    };
  }

  /** Back to nothing counted, before the supervisor adds its workers' counters up again. */
  reset(): void {
    this.series.clear();
    this.byTrack.production.clear();
    this.byTrack.staging.clear();
    this.refusals.clear();
  }

  /** Adds another process's counters to these. */
  absorb(snapshot: MetricsSnapshot): void {
    for (const other of snapshot.series) {
      const series = this.seriesOf(other.track, other.backend);
      for (const [status, count] of other.requests) {
        series.requests.set(status, (series.requests.get(status) ?? 0) + count);
      }
      other.buckets.forEach((n, i) => {
        series.buckets[i] = (series.buckets[i] as number) + n;
      });
      series.sum += other.sum;
      series.count += other.count;
    }
    for (const [status, count] of snapshot.refusals) {
      this.refusals.set(status, (this.refusals.get(status) ?? 0) + count);
    }
  }

  record(track: Track, backend: string, status: number, seconds: number): void {
    const series = this.seriesOf(track, backend);
    series.requests.set(status, (series.requests.get(status) ?? 0) + 1);
    // Only the first bucket that fits is counted here; render() makes them cumulative.
    let i = 0;
    while (i < BUCKETS.length && seconds > (BUCKETS[i] as number)) i++;
    if (i < BUCKETS.length) (series.buckets[i] as number)++;
    series.sum += seconds;
    series.count++;
  }

  /** Totals per track since start, for the status page. */
  totals(): Record<Track, { requests: number; errors: number }> {
    const out = { production: { requests: 0, errors: 0 }, staging: { requests: 0, errors: 0 } };
    for (const series of this.series.values()) {
      for (const [status, count] of series.requests) {
        out[series.track].requests += count;
        if (status >= 500) out[series.track].errors += count;
      }
    }
    return out;
  }

  render(gauges: Gauges): string {
    const lines: string[] = [];
    const head = (name: string, type: string, help: string) =>
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    head(
      "dropship_proxy_requests_total",
      "counter",
      "Proxied requests by track, backend and status.",
    );
    for (const s of this.series.values()) {
      for (const [status, count] of s.requests) {
        lines.push(`dropship_proxy_requests_total{${labels(s)},status="${status}"} ${count}`);
      }
    }
    head(
      "dropship_proxy_refused_total",
      "counter",
      "Requests the proxy refused before routing (malformed Host, CONNECT, TRACE, …).",
    );
    for (const [status, count] of this.refusals) {
      lines.push(`dropship_proxy_refused_total{status="${status}"} ${count}`);
    }
    head("dropship_proxy_errors_total", "counter", "Proxied requests answered 5xx.");
    for (const s of this.series.values()) {
      let errors = 0;
      for (const [status, count] of s.requests) if (status >= 500) errors += count;
      lines.push(`dropship_proxy_errors_total{${labels(s)}} ${errors}`);
    }
    head(
      "dropship_proxy_request_duration_seconds",
      "histogram",
      "Time to the upstream's response headers.",
    );
    for (const s of this.series.values()) {
      let cumulative = 0;
      BUCKETS.forEach((bound, i) => {
        cumulative += s.buckets[i] as number;
        lines.push(
          `dropship_proxy_request_duration_seconds_bucket{${labels(s)},le="${bound}"} ${cumulative}`,
        );
      });
      lines.push(
        `dropship_proxy_request_duration_seconds_bucket{${labels(s)},le="+Inf"} ${s.count}`,
      );
      lines.push(`dropship_proxy_request_duration_seconds_sum{${labels(s)}} ${s.sum}`);
      lines.push(`dropship_proxy_request_duration_seconds_count{${labels(s)}} ${s.count}`);
    }
    head("dropship_canary_weight", "gauge", "Configured share of clients for staging, in percent.");
    lines.push(`dropship_canary_weight ${gauges.canaryWeight}`);
    head("dropship_canary_blocked", "gauge", "1 while staging gets no traffic (aborted or alert).");
    lines.push(`dropship_canary_blocked ${gauges.canaryBlocked ? 1 : 0}`);
    head("dropship_alerts_firing", "gauge", "Alerts now firing.");
    lines.push(`dropship_alerts_firing ${gauges.alerts}`);
    head("dropship_backend_healthy", "gauge", "1 when the backend passes its health checks.");
    for (const b of gauges.backends)
      lines.push(`dropship_backend_healthy{${labels(b)}} ${b.healthy ? 1 : 0}`);
    head("dropship_backend_in_flight", "gauge", "Requests in flight to the backend.");
    for (const b of gauges.backends)
      lines.push(`dropship_backend_in_flight{${labels(b)}} ${b.inFlight}`);
    head(
      "dropship_state_stale",
      "gauge",
      "1 while the routing table may be out of date (Redis unreachable).",
    );
    lines.push(`dropship_state_stale ${gauges.stale ? 1 : 0}`);
    return `${lines.join("\n")}\n`;
  }
}

export interface MetricsSnapshot {
  series: {
    track: Track;
    backend: string;
    requests: [number, number][];
    buckets: number[];
    sum: number;
    count: number;
  }[];
  refusals: [number, number][];
}

export interface Gauges {
  canaryWeight: number;
  canaryBlocked: boolean;
  alerts: number;
  stale: boolean;
  backends: { track: Track; backend: string; healthy: boolean; inFlight: number }[];
}

function labels(s: { track: string; backend: string }): string {
  return `track="${s.track}",backend="${s.backend.replace(/["\\\n]/g, "_")}"`;
}
