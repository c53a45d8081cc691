import { addressKey } from "../shared/net/cidr.ts";

export interface RequestRateLimits {
  /** requests a second one address may send, sustained */
  perSecond: number;
  /** requests it may send at once, after a pause (the bucket's size) */
  burst: number;
  /** addresses remembered at most; past it, those whose buckets filled again are forgotten, else all */
  tracked: number;
}

/** An address's bucket: tokens left at `at` (ms). */
interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Requests per visitor's address (IPv6: its /64), a token bucket each, as nginx's limit_req:
 * an address may send `burst` requests at once and `perSecond` a second after that. One
 * address flooding the proxy is answered 429 at the cost of a map look-up and a few sums, and
 * everyone else is served as before. Plain data and arithmetic; the clock is the caller's. At
 * most `tracked` addresses are remembered (see makeRoom).
 */
export class RequestRate {
  private readonly buckets = new Map<string, Bucket>();
  private readonly keys = new Map<string, string>();

  constructor(readonly limits: RequestRateLimits) {}

  /** Takes one request of `address` at `now` (ms): 0 when it may go on, else the whole seconds to wait. */
  take(address: string, now: number): number {
    const key = this.keyOf(address);
    const { perSecond, burst } = this.limits;
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= this.limits.tracked) this.makeRoom(now);
      bucket = { tokens: burst, at: now };
      this.buckets.set(key, bucket);
    } else if (now > bucket.at) {
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) * perSecond) / 1000);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond));
  }

  /**
   * Forgets the addresses whose buckets have filled again by `now`: they are as a new one
   * would be. Run now and then, it keeps the map to the addresses sending lately.
   */
  sweep(now: number): void {
    const { perSecond, burst } = this.limits;
    for (const [key, bucket] of this.buckets)
      if (bucket.tokens + ((now - bucket.at) * perSecond) / 1000 >= burst) this.buckets.delete(key);
  }

  /** Addresses remembered now. */
  get size(): number {
    return this.buckets.size;
  }

  /**
   * Full: the buckets that filled again go, and if that frees nothing, all of them (an address
   * then starts with a full bucket). Not the longest-known one at a time: a Map's first key after
   * many deletions at its front costs a walk over them (measured: 50 µs a request at the cap).
   */
  private makeRoom(now: number): void {
    this.sweep(now);
    if (this.buckets.size >= this.limits.tracked) this.buckets.clear();
  }

  /** An IPv6 address's /64, worked out once for each address (1 µs each: bench/request-rate.ts). */
  private keyOf(address: string): string {
    if (!address.includes(":")) return address;
    let key = this.keys.get(address);
    if (key === undefined) {
      if (this.keys.size >= this.limits.tracked) this.keys.clear();
      key = addressKey(address);
      this.keys.set(address, key);
    }
    return key;
  }
}

/** The visitor's answer past the limit: a sentence saying what happened and when to try again. */
export function rateRefusal(limits: RequestRateLimits, waitS: number): string {
  return `This address sent more than ${limits.perSecond} requests a second (bursts up to ${limits.burst}), the most one address may send; try again in ${waitS} s.`;
}
