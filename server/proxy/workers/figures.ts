import type { ErrorWindow, TallyEntry } from "../analysis.ts";
import type { Metrics, MetricsSnapshot } from "../metrics.ts";

/** What a worker tells its supervisor, over IPC. */
export type WorkerMessage =
  | { kind: "ready"; port: number }
  | {
      kind: "report";
      metrics: MetricsSnapshot;
      /** requests in flight per backend id */
      inFlight: [string, number][];
      /** answers since the last report, for the canary analysis */
      tally: TallyEntry[];
      /** connections to backends that failed since the last report */
      failures: [string, string][];
    };

/**
 * The proxy host's figures, made from its workers' reports: one set of metrics (the latest
 * counters of each worker, plus those of workers that have exited, so counters never go
 * back), in-flight counts per backend, and one error window for the canary analysis.
 */
export class Figures {
  private readonly latest = new Map<number, MetricsSnapshot>();
  private readonly retired: MetricsSnapshot[] = [];
  private readonly inFlight = new Map<number, Map<string, number>>();

  constructor(
    /** the supervisor's Metrics, which its admin listener renders */
    private readonly combined: Metrics,
    private readonly window: ErrorWindow,
  ) {}

  report(worker: number, message: Extract<WorkerMessage, { kind: "report" }>): void {
    this.latest.set(worker, message.metrics);
    this.inFlight.set(worker, new Map(message.inFlight));
    for (const [track, at, visitor, requests, errors] of message.tally) {
      this.window.addReported(track, requests, errors, at, visitor);
    }
    this.rebuild();
  }

  /** A worker exited: its counters stay counted, its in-flight requests are gone. */
  retire(worker: number): void {
    const last = this.latest.get(worker);
    if (last) this.retired.push(last);
    this.latest.delete(worker);
    this.inFlight.delete(worker);
    this.rebuild();
  }

  inFlightOf(backend: string): number {
    let sum = 0;
    for (const counts of this.inFlight.values()) sum += counts.get(backend) ?? 0;
    return sum;
  }

  private rebuild(): void {
    this.combined.reset();
    for (const snapshot of this.retired) this.combined.absorb(snapshot);
    for (const snapshot of this.latest.values()) this.combined.absorb(snapshot);
    // many restarts would grow this list: fold it into one
    if (this.retired.length > 8) this.retired.splice(0, this.retired.length, this.foldRetired());
  }

  private foldRetired(): MetricsSnapshot {
    const series = new Map<string, MetricsSnapshot["series"][number]>();
    const refusals = new Map<number, number>();
    for (const snapshot of this.retired) {
      for (const s of snapshot.series) {
        const key = `${s.track}\u0000${s.backend}`;
        const sum = series.get(key);
        if (!sum) {
          series.set(key, { ...s, requests: [...s.requests], buckets: [...s.buckets] });
          continue;
        }
        const requests = new Map(sum.requests);
        for (const [status, count] of s.requests)
          requests.set(status, (requests.get(status) ?? 0) + count);
        sum.requests = [...requests];
        sum.buckets = sum.buckets.map((n, i) => n + (s.buckets[i] ?? 0));
        sum.sum += s.sum;
        sum.count += s.count;
      }
      for (const [status, count] of snapshot.refusals)
        refusals.set(status, (refusals.get(status) ?? 0) + count);
    }
    return { series: [...series.values()], refusals: [...refusals] };
  }
}

/** `auto` is one worker per CPU the process may run on. */
export function workerCount(setting: "auto" | number, cpus: number): number {
  return setting === "auto" ? Math.max(1, cpus) : setting;
}
