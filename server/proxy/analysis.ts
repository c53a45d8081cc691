import type { Track } from "../shared/routing/model.ts";

export interface AnalysisSettings {
  windowMs: number;
  minRequests: number;
  /** percentage points of 5xx rate staging may exceed production by */
  maxErrorRateIncrease: number;
}

export interface TrackCounts {
  requests: number;
  errors: number;
}

const SLOT_MS = 1000;
/** Staging visitors tracked one by one per slot; beyond this they are counted together. */
const MAX_VISITORS_PER_SLOT = 5000;
const OTHERS = "\u0000others";

interface Slot {
  start: number;
  counts: Record<Track, TrackCounts>;
  /** staging requests and errors per visitor address */
  visitors: Map<string, TrackCounts>;
}

/**
 * Requests and 5xx per track over a sliding window, in one-second slots. Staging is also
 * counted per visitor, so that no single visitor can outweigh the others: each counts for at
 * most `perVisitorCap` requests in the window, and the visitor with the most errors is left
 * out of the verdict — one client hammering a failing path cannot abort the canary, while a
 * release that fails for everyone still does.
 */
export class ErrorWindow {
  private readonly slots: Slot[];

  constructor(
    private readonly windowMs: number,
    private readonly perVisitorCap = Number.POSITIVE_INFINITY,
  ) {
    this.slots = Array.from({ length: Math.max(1, Math.ceil(windowMs / SLOT_MS)) }, () => ({
      start: -1,
      counts: emptyCounts(),
      visitors: new Map(),
    }));
  }

  add(track: Track, isError: boolean, now: number, visitor = ""): void {
    this.addCounts(track, 1, isError ? 1 : 0, now, visitor);
  }

  /**
   * A worker's tally for the slot starting at `at`. Reports arrive up to a report interval
   * late: one for the second of the last reset, or earlier, would bring back what the reset
   * cleared (an abort would follow the resumed canary at once), so it is dropped.
   */
  addReported(track: Track, requests: number, errors: number, at: number, visitor = ""): void {
    if (at <= this.resetAt) return;
    this.addCounts(track, requests, errors, at, visitor);
  }

  private resetAt = -1;

  /** `requests` and `errors` at once. */
  addCounts(track: Track, requests: number, errors: number, now: number, visitor = ""): void {
    const start = now - (now % SLOT_MS);
    const slot = this.slots[Math.floor(start / SLOT_MS) % this.slots.length] as Slot;
    if (slot.start !== start) {
      slot.start = start;
      slot.counts = emptyCounts();
      slot.visitors.clear();
    }
    const counts = slot.counts[track];
    counts.requests += requests;
    counts.errors += errors;
    if (track !== "staging") return;
    const key =
      slot.visitors.size < MAX_VISITORS_PER_SLOT || slot.visitors.has(visitor) ? visitor : OTHERS;
    let mine = slot.visitors.get(key);
    if (!mine) {
      mine = { requests: 0, errors: 0 };
      slot.visitors.set(key, mine);
    }
    mine.requests += requests;
    mine.errors += errors;
  }

  /** The window's totals; staging's are per-visitor capped, without its worst visitor. */
  totals(now: number): Record<Track, TrackCounts> {
    const out = emptyCounts();
    const visitors = new Map<string, TrackCounts>();
    for (const slot of this.slots) {
      if (slot.start < 0 || now - slot.start >= this.windowMs) continue;
      out.production.requests += slot.counts.production.requests;
      out.production.errors += slot.counts.production.errors;
      for (const [key, counts] of slot.visitors) {
        const sum = visitors.get(key);
        if (sum) {
          sum.requests += counts.requests;
          sum.errors += counts.errors;
        } else {
          visitors.set(key, { ...counts });
        }
      }
    }
    let worst: TrackCounts = { requests: 0, errors: 0 };
    for (const [key, counts] of visitors) {
      const capped =
        key === OTHERS
          ? counts
          : {
              requests: Math.min(counts.requests, this.perVisitorCap),
              errors: Math.min(counts.errors, this.perVisitorCap),
            };
      out.staging.requests += capped.requests;
      out.staging.errors += capped.errors;
      if (key !== OTHERS && capped.errors > worst.errors) worst = capped;
    }
    out.staging.requests -= worst.requests;
    out.staging.errors -= worst.errors;
    return out;
  }

  reset(): void {
    this.resetAt = Date.now();
    for (const slot of this.slots) {
      slot.start = -1;
      slot.visitors.clear();
    }
  }
}

/** Where the forwarding path counts answers for the canary analysis. */
export interface WindowSink {
  add(track: Track, isError: boolean, now: number, visitor?: string): void;
}

export type TallyEntry = [
  track: Track,
  at: number,
  visitor: string,
  requests: number,
  errors: number,
];

/**
 * A proxy worker's answers since its last report, per one-second slot, track and (for staging)
 * visitor: the supervisor adds them into the one ErrorWindow the canary analysis reads.
 */
export class WindowTally implements WindowSink {
  private counts = new Map<string, TallyEntry>();

  add(track: Track, isError: boolean, now: number, visitor = ""): void {
    const at = now - (now % SLOT_MS);
    const who = track === "staging" ? visitor : "";
    const key = `${at}${track}${who}`;
    let entry = this.counts.get(key);
    if (!entry) {
      entry = [track, at, who, 0, 0];
      this.counts.set(key, entry);
    }
    entry[3]++;
    if (isError) entry[4]++;
  }

  drain(): TallyEntry[] {
    const entries = [...this.counts.values()];
    this.counts = new Map();
    return entries;
  }
}

/** Each visitor's share: at least five visitors are needed for a verdict. */
export function perVisitorCap(minRequests: number): number {
  return Math.max(1, Math.ceil(minRequests / 5));
}

function emptyCounts(): Record<Track, TrackCounts> {
  return { production: { requests: 0, errors: 0 }, staging: { requests: 0, errors: 0 } };
}

export type Verdict = { abort: false; why: string } | { abort: true; why: string };

/**
 * Whether staging does worse than production. No verdict before staging has seen
 * `minRequests` requests in the window: no traffic is never a failure.
 */
export function judge(totals: Record<Track, TrackCounts>, settings: AnalysisSettings): Verdict {
  const { staging, production } = totals;
  if (staging.requests < settings.minRequests) {
    return {
      abort: false,
      why: `waiting: ${staging.requests}/${settings.minRequests} staging requests`,
    };
  }
  const stagingRate = (100 * staging.errors) / staging.requests;
  const productionRate =
    production.requests > 0 ? (100 * production.errors) / production.requests : 0;
  const summary = `staging 5xx ${stagingRate.toFixed(1)}% of ${staging.requests} vs production ${productionRate.toFixed(1)}% of ${production.requests}`;
  if (stagingRate - productionRate > settings.maxErrorRateIncrease) {
    return {
      abort: true,
      why: `${summary} (more than ${settings.maxErrorRateIncrease} points worse)`,
    };
  }
  return { abort: false, why: summary };
}
