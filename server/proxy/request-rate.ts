import { addressKeyCached } from "../shared/net/cidr.ts";

export interface RequestRateLimits {
  /** requests a second one address may send, sustained */
  perSecond: number;
  /** requests it may send at once, after a pause (the bucket's size) */
  burst: number;
  /** addresses the table is sized for (twice as many slots); past them the idlest are forgotten */
  tracked: number;
}

/** Two 64-bit words a slot: the address's hash (0: free), and when its bucket is full again (µs). */
const SLOT_WORDS = 2;
/** Slots looked at from an address's own before the idlest of them is taken over. */
const PROBES = 16;

/** Slots in a table for `tracked` addresses: a power of two, at least twice as many. */
export function rateTableSlots(tracked: number): number {
  let slots = 16;
  while (slots < tracked * 2) slots *= 2;
  return slots;
}

/** The bytes of a table for `tracked` addresses, as RequestRate takes it. */
export function rateTableBytes(tracked: number): number {
  return rateTableSlots(tracked) * SLOT_WORDS * 8;
}

/**
 * Requests per visitor's address (IPv6: its /64), as nginx's limit_req: an address may send
 * `burst` requests at once and `perSecond` a second after that. One address flooding the proxy
 * is answered 429, and everyone else is served as before.
 *
 * The buckets are a fixed table of 64-bit words, so the proxy's workers can share one (a file
 * each maps, `memory`): a visitor whose connections land on different workers has one bucket
 * on the host, not one a worker. Each bucket is one number, the time its tokens are all back
 * (the generic cell rate algorithm, a token bucket's equal), changed by compare-and-swap, so
 * two processes taking from it at once never lose a request. At most `tracked` addresses fit
 * well; a new one past a full neighbourhood takes the slot of the idlest there. The clock is
 * the caller's, in ms: every process sharing a table must read the same one.
 */
export class RequestRate {
  private readonly words: BigUint64Array;
  private readonly mask: bigint;
  private readonly slots: number;
  /** µs between two requests at the sustained rate, and how far ahead a bucket may run (burst − 1 of them) */
  private readonly interval: bigint;
  private readonly tolerance: bigint;

  constructor(
    readonly limits: RequestRateLimits,
    memory: Uint8Array = new Uint8Array(rateTableBytes(limits.tracked)),
  ) {
    if (memory.byteLength !== rateTableBytes(limits.tracked))
      throw new Error(
        `the request-rate table is ${memory.byteLength} bytes where ${limits.tracked} addresses need ${rateTableBytes(limits.tracked)}`,
      );
    this.words = new BigUint64Array(memory.buffer, memory.byteOffset, memory.byteLength / 8);
    this.slots = rateTableSlots(limits.tracked);
    this.mask = BigInt(this.slots - 1);
    const interval = Math.max(1, Math.round(1e6 / limits.perSecond));
    this.interval = BigInt(interval);
    this.tolerance = BigInt(interval) * BigInt(Math.max(0, limits.burst - 1));
  }

  /** Takes one request of `address` at `now` (ms): 0 when it may go on, else the whole seconds to wait. */
  take(address: string, now: number): number {
    const at = BigInt(Math.floor(now * 1000));
    const word = this.slotOf(this.keyOf(address)) * SLOT_WORDS + 1;
    const { words, interval, tolerance } = this;
    for (;;) {
      const full = Atomics.load(words, word);
      const from = full > at ? full : at;
      const ahead = from - at;
      if (ahead > tolerance) return Math.max(1, Math.ceil(Number(ahead - tolerance) / 1e6));
      if (Atomics.compareExchange(words, word, full, from + interval) === full) return 0;
    }
  }

  /** Addresses in the table now (a walk over it: for tests and tools, not a request's path). */
  get size(): number {
    let count = 0;
    for (let slot = 0; slot < this.slots; slot++) if (this.words[slot * SLOT_WORDS] !== 0n) count++;
    return count;
  }

  /**
   * The slot of the address with hash `key`: its own, a free one, or, when the PROBES slots from
   * its place all hold others, the one whose bucket filled again longest ago (its address starts
   * again with a full bucket, as a new one does).
   */
  private slotOf(key: bigint): number {
    const { words, slots } = this;
    for (;;) {
      const home = Number(key & this.mask);
      let idlest = home;
      let idlestKey = 0n;
      let idlestFull = 0n;
      for (let probe = 0; probe < PROBES && probe < slots; probe++) {
        const slot = (home + probe) & (slots - 1);
        const held = Atomics.load(words, slot * SLOT_WORDS);
        if (held === key) return slot;
        if (held === 0n) {
          const was = Atomics.compareExchange(words, slot * SLOT_WORDS, 0n, key);
          if (was === 0n || was === key) return slot;
          continue;
        }
        const full = Atomics.load(words, slot * SLOT_WORDS + 1);
        if (idlestKey === 0n || full < idlestFull) {
          idlest = slot;
          idlestKey = held;
          idlestFull = full;
        }
      }
      // taken over only if no other process changed it meanwhile; else look again
      if (Atomics.compareExchange(words, idlest * SLOT_WORDS, idlestKey, key) === idlestKey) {
        Atomics.store(words, idlest * SLOT_WORDS + 1, 0n);
        return idlest;
      }
    }
  }

  /** The address's hash, never 0 (a free slot); an IPv6 address's by its /64. */
  private keyOf(address: string): bigint {
    return Bun.hash.wyhash(addressKeyCached(address)) | 1n;
  }
}

/** The visitor's answer past the limit: a sentence saying what happened and when to try again. */
export function rateRefusal(limits: RequestRateLimits, waitS: number): string {
  return `This address sent more than ${limits.perSecond} requests a second (bursts up to ${limits.burst}), the most one address may send; try again in ${waitS} s.`;
}
