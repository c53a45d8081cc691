import type { ErrorWindow, TallyEntry } from "../analysis.ts";
import { Metrics, type MetricsSnapshot } from "../metrics.ts";

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
  /** the counters of workers that have exited, added up */
  private readonly retired = new Metrics();
  private readonly inFlight = new Map<number, Map<string, number>>();

  constructor(
    /** the supervisor's Metrics, which its admin listener renders */
    private readonly combined: Metrics,
    private readonly window: ErrorWindow,
  ) {}

  report(worker: number, message: Extract<WorkerMessage, { kind: "report" }>): void {
    this.latest.set(worker, message.metrics);
    this.inFlight.set(worker, new Map(message.inFlight));
    for (const [track, at, visitor, requests, errors, slow] of message.tally) {
      this.window.addReported(track, requests, errors, at, visitor, slow);
    }
    this.rebuild();
  }

  /** A worker exited: its counters stay counted, its in-flight requests are gone. */
  retire(worker: number): void {
    const last = this.latest.get(worker);
    if (last) this.retired.absorb(last);
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
    this.combined.absorb(this.retired.snapshot());
    for (const snapshot of this.latest.values()) this.combined.absorb(snapshot);
  }
}

/** `auto` is one worker per CPU the process may run on. */
export function workerCount(setting: "auto" | number, cpus: number): number {
  return setting === "auto" ? Math.max(1, cpus) : setting;
}
