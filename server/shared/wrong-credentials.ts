import type { AuthResult } from "./auth.ts";
import { addressKey } from "./net/cidr.ts";

export interface CredentialPolicy {
  /** wrong credentials an address may give within `windowMs` before it is held */
  limit: number;
  windowMs: number;
  /** addresses remembered at once; past it the longest-known is forgotten, so memory is bounded */
  tracked: number;
}

/** Ten wrong tokens a minute, as a person mistyping never reaches and a guesser always does. */
export const CREDENTIAL_POLICY: CredentialPolicy = {
  limit: 10,
  windowMs: 60_000,
  tracked: 10_000,
};

/** What an address that is held is told: how long to wait, and why. */
export interface Hold {
  retryAfterS: number;
  reason: string;
}

interface Tally {
  /** when its recent wrong credentials came, oldest first */
  times: number[];
  heldUntil: number;
}

/**
 * Wrong credentials counted by the address they came from (IPv6 by its /64): an address that
 * gives `limit` within `windowMs` is held for `windowMs`, and while it is held nothing it sends
 * is checked, right token or not, so guessing gains nothing. Only that address is held: a
 * stranger cannot lock anyone else out, however many tokens they try.
 */
export class WrongCredentials {
  private readonly byAddress = new Map<string, Tally>();

  constructor(readonly policy: CredentialPolicy = CREDENTIAL_POLICY) {}

  /** The hold on `address` at `now`, if it has one. */
  held(address: string, now: number): Hold | undefined {
    const key = addressKey(address);
    const record = this.byAddress.get(key);
    if (!record) return undefined;
    if (record.heldUntil > now) return this.hold(record.heldUntil - now);
    if (record.heldUntil > 0) this.byAddress.delete(key);
    return undefined;
  }

  /** Counts a wrong credential from `address`; returns the hold when this one starts it. */
  failed(address: string, now: number): Hold | undefined {
    const key = addressKey(address);
    let record = this.byAddress.get(key);
    if (!record) {
      if (this.byAddress.size >= this.policy.tracked) {
        const oldest = this.byAddress.keys().next().value;
        if (oldest !== undefined) this.byAddress.delete(oldest);
      }
      record = { times: [], heldUntil: 0 };
      this.byAddress.set(key, record);
    }
    if (record.heldUntil > now) return undefined;
    const since = now - this.policy.windowMs;
    while (record.times.length > 0 && (record.times[0] as number) <= since) record.times.shift();
    record.times.push(now);
    if (record.times.length < this.policy.limit) return undefined;
    record.times = [];
    record.heldUntil = now + this.policy.windowMs;
    return this.hold(this.policy.windowMs);
  }

  /** Forgets `address`'s wrong credentials once it gives the right ones. */
  succeeded(address: string): void {
    this.byAddress.delete(addressKey(address));
  }

  /** Addresses remembered now (for tests of the bound). */
  get size(): number {
    return this.byAddress.size;
  }

  private hold(remainingMs: number): Hold {
    const retryAfterS = Math.max(1, Math.ceil(remainingMs / 1000));
    const { limit, windowMs } = this.policy;
    return {
      retryAfterS,
      reason: `${limit} wrong credentials came from this address within ${windowMs / 1000} s, so it is not heard for ${windowMs / 1000} s. Wait ${retryAfterS} s, then send the right token`,
    };
  }
}

/** What a request's credentials come to, once its address's hold is looked at first. */
export type Verdict =
  | { ok: true; status: 200; user: string }
  | { ok: false; status: 429; hold: Hold }
  /** `started`: this wrong credential began a hold on the address, to be logged once */
  | { ok: false; status: 401; reason: string; started?: Hold };

/**
 * Checks a request's credentials under the throttle: a held address is refused unchecked; a
 * wrong credential counts against its address (a request without any does not: git and
 * browsers ask that way first); a right one clears it. `address` undefined: never held (the
 * control host itself, for the receiver).
 */
export function judgeCredentials(
  throttle: WrongCredentials,
  address: string | undefined,
  authorization: string | null,
  check: (authorization: string | null) => AuthResult,
  now: number,
): Verdict {
  const held = address === undefined ? undefined : throttle.held(address, now);
  if (held) return { ok: false, status: 429, hold: held };
  const auth = check(authorization);
  if (auth.ok) {
    if (address !== undefined) throttle.succeeded(address);
    return { ok: true, status: 200, user: auth.user };
  }
  const started =
    address === undefined || authorization === null ? undefined : throttle.failed(address, now);
  return started
    ? { ok: false, status: 401, reason: auth.reason, started }
    : { ok: false, status: 401, reason: auth.reason };
}

/** The log line for a hold that began: the address and the count, never a token. */
export function holdStarted(
  address: string,
  what: string,
  throttle: WrongCredentials,
  hold: Hold,
): string {
  const { limit, windowMs } = throttle.policy;
  return `${address} gave wrong ${what} ${limit} times within ${windowMs / 1000} s: refused for ${hold.retryAfterS} s`;
}
