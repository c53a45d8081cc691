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

/**
 * Requests and 5xx per track over a sliding window, in one-second slots: adding is O(1)
 * and the window's totals are a sum over at most window/1s slots.
 */
export class ErrorWindow {
  private readonly slots: { start: number; counts: Record<Track, TrackCounts> }[];

  constructor(private readonly windowMs: number) {
    this.slots = Array.from({ length: Math.max(1, Math.ceil(windowMs / SLOT_MS)) }, () => ({
      start: -1,
      counts: emptyCounts(),
    }));
  }

  add(track: Track, isError: boolean, now: number): void {
    const start = now - (now % SLOT_MS);
    const slot = this.slots[
      Math.floor(start / SLOT_MS) % this.slots.length
    ] as (typeof this.slots)[0];
    if (slot.start !== start) {
      slot.start = start;
      slot.counts = emptyCounts();
    }
    const counts = slot.counts[track];
    counts.requests++;
    if (isError) counts.errors++;
  }

  totals(now: number): Record<Track, TrackCounts> {
    const out = emptyCounts();
    for (const slot of this.slots) {
      if (slot.start < 0 || now - slot.start >= this.windowMs) continue;
      for (const track of ["production", "staging"] as const) {
        out[track].requests += slot.counts[track].requests;
        out[track].errors += slot.counts[track].errors;
      }
    }
    return out;
  }

  reset(): void {
    for (const slot of this.slots) slot.start = -1;
  }
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
