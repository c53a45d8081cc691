import { addressKeyCached } from "../shared/net/cidr.ts";
import type { Track } from "../shared/routing/model.ts";

export interface AnalysisSettings {
  windowMs: number;
  minRequests: number;
  /** percentage points of 5xx rate staging may exceed production by */
  maxErrorRateIncrease: number;
  /** an answer whose head took longer is slow; 0: speed is not judged */
  slowAfterMs: number;
  /** percentage points of slow answers staging may exceed production by */
  maxSlowRateIncrease: number;
}

export interface TrackCounts {
  requests: number;
  errors: number;
  /** answers slower than the analysis's slow_after */
  slow: number;
}

/** A window's counts per track, per-visitor capped, and staging's as answered. */
export interface WindowTotals extends Record<Track, TrackCounts> {
  /** staging's answers before the caps, the visitor addresses they went to, and the cap */
  stagingSeen: { requests: number; addresses: number; cap: number };
}

const SLOT_MS = 1000;

/** An answer that took `ms` is slow past `slowAfterMs`; 0 judges none slow. */
const isSlow = (ms: number, slowAfterMs: number) => slowAfterMs > 0 && ms > slowAfterMs;
/**
 * Visitors tracked one by one per slot and track; beyond this they are counted together (the
 * memory a flood of addresses can take: two tracks of this many entries in each slot).
 */
const MAX_VISITORS_PER_SLOT = 2500;
const OTHERS = "\u0000others";
const TRACKS = ["production", "staging"] as const satisfies readonly Track[];
const noCounts = (): TrackCounts => ({ requests: 0, errors: 0, slow: 0 });
const newVisitors = (): Record<Track, Map<string, TrackCounts>> => ({
  production: new Map(),
  staging: new Map(),
});

interface Slot {
  start: number;
  /** each track's requests, errors and slow answers per visitor address */
  visitors: Record<Track, Map<string, TrackCounts>>;
}

/**
 * Requests, 5xx and slow answers per track over a sliding window, in one-second slots, counted
 * per visitor so that no single visitor can outweigh the others: each counts for at most
 * `perVisitorCap` requests in the window, and on each track the IPv4 address and the IPv6 /64
 * with the most errors and slow answers are left out of the verdict (one person on a
 * dual-stack connection is one of each). One client hammering a failing or slow path
 * cannot abort the canary on staging, nor shield a failing one by making production look as
 * bad; a release that fails or slows down for everyone is still aborted.
 */
export class ErrorWindow {
  private readonly slots: Slot[];
  /**
   * Each visitor's counts over the slots in the window, kept as slots come and go: the
   * analysis reads the window every second, and adding up every slot's visitors then took
   * 0.35 s a read under a flood of new addresses (bench/canary-window.ts).
   */
  private sums = newVisitors();

  constructor(
    private readonly windowMs: number,
    private readonly perVisitorCap = Number.POSITIVE_INFINITY,
    /** an answer that took longer (ms) is slow; 0: none is */
    private readonly slowAfterMs = 0,
  ) {
    this.slots = Array.from({ length: Math.max(1, Math.ceil(windowMs / SLOT_MS)) }, () => ({
      start: -1,
      visitors: newVisitors(),
    }));
  }

  add(track: Track, isError: boolean, now: number, visitor = "", ms = 0): void {
    const slow = isSlow(ms, this.slowAfterMs) ? 1 : 0;
    this.addCounts(track, 1, isError ? 1 : 0, now, addressKeyCached(visitor), slow);
  }

  /**
   * A worker's tally for the slot starting at `at` (its visitors keyed as add keys them).
   * Reports arrive up to a report interval
   * late: one for the second of the last reset, or earlier, would bring back what the reset
   * cleared (an abort would follow the resumed canary at once), so it is dropped.
   */
  addReported(
    track: Track,
    requests: number,
    errors: number,
    at: number,
    visitor = "",
    slow = 0,
  ): void {
    if (at <= this.resetAt) return;
    this.addCounts(track, requests, errors, at, visitor, slow);
  }

  private resetAt = -1;

  /** `requests`, `errors` and `slow` at once. */
  addCounts(
    track: Track,
    requests: number,
    errors: number,
    now: number,
    visitor = "",
    slow = 0,
  ): void {
    const start = now - (now % SLOT_MS);
    const slot = this.slots[Math.floor(start / SLOT_MS) % this.slots.length] as Slot;
    // a report from before the slot's second: older than the window, nothing to add to
    if (slot.start > start) return;
    if (slot.start !== start) {
      this.expire(slot);
      slot.start = start;
    }
    const visitors = slot.visitors[track];
    let key = visitor;
    let mine = visitors.get(key);
    if (!mine) {
      if (visitors.size >= MAX_VISITORS_PER_SLOT) key = OTHERS;
      mine = visitors.get(key) ?? noCounts();
      visitors.set(key, mine);
    }
    mine.requests += requests;
    mine.errors += errors;
    mine.slow += slow;
    const sums = this.sums[track];
    let sum = sums.get(key);
    if (!sum) {
      sum = noCounts();
      sums.set(key, sum);
    }
    sum.requests += requests;
    sum.errors += errors;
    sum.slow += slow;
  }

  /** A slot's counts out of the window's sums, and the slot empty. */
  private expire(slot: Slot): void {
    for (const track of TRACKS) {
      const sums = this.sums[track];
      for (const [key, counts] of slot.visitors[track]) {
        const sum = sums.get(key);
        if (!sum) continue;
        sum.requests -= counts.requests;
        sum.errors -= counts.errors;
        sum.slow -= counts.slow;
        if (sum.requests <= 0) sums.delete(key);
      }
      slot.visitors[track].clear();
    }
    slot.start = -1;
  }

  /** The window's totals, per-visitor capped, each track without its worst visitors. */
  totals(now: number): WindowTotals {
    for (const slot of this.slots)
      if (slot.start >= 0 && now - slot.start >= this.windowMs) this.expire(slot);
    const visitors = this.sums.staging;
    const [production] = this.capped(this.sums.production);
    const [staging, answered] = this.capped(visitors);
    return {
      production,
      staging,
      stagingSeen: {
        requests: answered,
        addresses: visitors.size - (visitors.has(OTHERS) ? 1 : 0),
        cap: this.perVisitorCap,
      },
    };
  }

  /**
   * One track's visitors added up, each scaled to the cap, the worst IPv4 address and the
   * worst IPv6 /64 left out; and the requests they sent, as sent.
   */
  private capped(visitors: Map<string, TrackCounts>): [TrackCounts, number] {
    const out = { requests: 0, errors: 0, slow: 0 };
    let answered = 0;
    let worst4 = noCounts();
    let worst6 = noCounts();
    const bad = (counts: TrackCounts) => counts.errors + counts.slow;
    for (const [key, counts] of visitors) {
      answered += counts.requests;
      const capped = key === OTHERS ? counts : scaledTo(counts, this.perVisitorCap);
      out.requests += capped.requests;
      out.errors += capped.errors;
      out.slow += capped.slow;
      if (key === OTHERS) continue;
      if (key.includes(":")) {
        if (bad(capped) > bad(worst6)) worst6 = capped;
      } else if (bad(capped) > bad(worst4)) worst4 = capped;
    }
    for (const worst of [worst4, worst6]) {
      out.requests -= worst.requests;
      out.errors -= worst.errors;
      out.slow -= worst.slow;
    }
    return [out, answered];
  }

  reset(): void {
    this.resetAt = Date.now();
    for (const slot of this.slots) {
      slot.start = -1;
      slot.visitors = newVisitors();
    }
    this.sums = newVisitors();
  }
}

/**
 * A visitor's counts as at most `cap` requests, its errors and slow answers scaled with them:
 * a visitor with 300 answers and 9 errors counts as 10 and 0.3, a 3% rate as it was, not as 10
 * and 9 (90%), which would make every busy visitor look like a failing one.
 */
function scaledTo(counts: TrackCounts, cap: number): TrackCounts {
  if (counts.requests <= cap) return counts;
  const share = cap / counts.requests;
  return { requests: cap, errors: counts.errors * share, slow: counts.slow * share };
}

/** Where the forwarding path counts answers for the canary analysis. */
export interface WindowSink {
  /** `ms`: how long the answer's head took */
  add(track: Track, isError: boolean, now: number, visitor?: string, ms?: number): void;
}

export type TallyEntry = [
  track: Track,
  at: number,
  visitor: string,
  requests: number,
  errors: number,
  slow: number,
];

/**
 * A proxy worker's answers since its last report, per one-second slot, track and visitor: the
 * supervisor adds them into the one ErrorWindow the canary analysis reads.
 */
export class WindowTally implements WindowSink {
  /** in the order they were begun, for the report */
  private entries: TallyEntry[] = [];
  /** the same by slot, track and visitor: found without building a key */
  private index = new Map<number, Record<Track, Map<string, TallyEntry>>>();
  /** the entry added to last: a kept-alive connection's answers find theirs at once */
  private last: TallyEntry | undefined;

  /** `slowAfterMs` as the supervisor's window has it */
  constructor(private readonly slowAfterMs = 0) {}

  add(track: Track, isError: boolean, now: number, address = "", ms = 0): void {
    const at = now - (now % SLOT_MS);
    // IPv6 by its /64, as the rate limits count: one client may take a new address of it each time
    const visitor = addressKeyCached(address);
    let entry = this.last;
    if (entry === undefined || entry[1] !== at || entry[0] !== track || entry[2] !== visitor) {
      let slot = this.index.get(at);
      if (!slot) {
        slot = { production: new Map(), staging: new Map() };
        this.index.set(at, slot);
      }
      entry = slot[track].get(visitor);
      if (!entry) {
        entry = [track, at, visitor, 0, 0, 0];
        slot[track].set(visitor, entry);
        this.entries.push(entry);
      }
      this.last = entry;
    }
    entry[3]++;
    if (isError) entry[4]++;
    if (isSlow(ms, this.slowAfterMs)) entry[5]++;
  }

  drain(): TallyEntry[] {
    const entries = this.entries;
    this.entries = [];
    this.index = new Map();
    this.last = undefined;
    return entries;
  }
}

/**
 * Why there is no verdict yet. When staging answered enough but too few of its answers count (a
 * few addresses sent them all, as a load test from one machine does), says so: "0/50" alone
 * would read as no traffic.
 */
function waitingWhy(
  counted: number,
  minRequests: number,
  seen: WindowTotals["stagingSeen"] | undefined,
): string {
  const waiting = `waiting: ${counted}/${minRequests} staging requests`;
  if (seen === undefined || seen.requests < minRequests) return waiting;
  const from = seen.addresses === 1 ? "1 address" : `${seen.addresses} addresses`;
  const capped = Number.isFinite(seen.cap)
    ? `each address counts for at most ${seen.cap} and `
    : "";
  return `${waiting} counted (${seen.requests} answered, from ${from}: ${capped}the worst IPv4 address and IPv6 /64 are left out)`;
}

/** Each visitor's share: at least five visitors are needed for a verdict. */
export function perVisitorCap(minRequests: number): number {
  return Math.max(1, Math.ceil(minRequests / 5));
}

export type Verdict = { abort: false; why: string } | { abort: true; why: string };

/**
 * Whether staging does worse than production: more 5xx, or (with `slowAfterMs`) more answers
 * slower than that. No verdict before staging has seen `minRequests` requests in the window:
 * no traffic is never a failure.
 */
export function judge(
  totals: Record<Track, TrackCounts> & Partial<Pick<WindowTotals, "stagingSeen">>,
  settings: AnalysisSettings,
): Verdict {
  const { staging, production, stagingSeen } = totals;
  if (staging.requests < settings.minRequests) {
    return { abort: false, why: waitingWhy(staging.requests, settings.minRequests, stagingSeen) };
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
  if (settings.slowAfterMs <= 0) return { abort: false, why: summary };
  const stagingSlow = (100 * staging.slow) / staging.requests;
  const productionSlow =
    production.requests > 0 ? (100 * production.slow) / production.requests : 0;
  const slowSummary = `staging slower than ${settings.slowAfterMs} ms ${stagingSlow.toFixed(1)}% of ${staging.requests} vs production ${productionSlow.toFixed(1)}% of ${production.requests}`;
  if (stagingSlow - productionSlow > settings.maxSlowRateIncrease) {
    return {
      abort: true,
      why: `${slowSummary} (more than ${settings.maxSlowRateIncrease} points worse)`,
    };
  }
  return { abort: false, why: `${summary}; ${slowSummary}` };
}
