import { type Link, LinkedSet } from "./linked-set.ts";
import type { Exchange, Upload } from "./upstream/client.ts";

/** What a wait needs of the visitor's signal: an AbortSignal, or the own front's. */
export interface AbortLike {
  readonly aborted: boolean;
  addEventListener(type: "abort", listener: EventListenerObject, options?: { once: boolean }): void;
  removeEventListener(type: "abort", listener: EventListenerObject): void;
}

/** Something waiting on an answer, swept by Deadlines. */
export interface Watched {
  /** when it has waited too long (ms on the monotonic clock, performance.now()) */
  deadline: number;
  /** when it counts as slow; 0 once told */
  slowAt: number;
  /** its place among those watched */
  link: Link<Watched>;
  /** past its deadline at `now`: give up, or watch on to a later deadline */
  expire(now: number): void;
  slow(): void;
}

/**
 * The response timeout, for requests waiting on their answer's headers: one sweep every
 * `tickMs` expires those past their deadline and tells those waiting longer than a tick that
 * they are slow. Times are the monotonic clock's: a wall clock stepped forward (NTP at boot, an
 * operator) would otherwise time out every request in flight at once, and one stepped back
 * would hold them past their timeout. A request that answers quickly pays for no timer, no
 * promise and no AbortSignal: in Bun 1.4 a controller per request cost ~12% of the proxy's
 * CPU, and an abort listener on every request's signal ~9% (bench/proxy.ts, side by side).
 */
export class Deadlines {
  private readonly waiting = new LinkedSet<Watched>();
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    readonly timeoutMs: number,
    readonly tickMs = 100,
  ) {
    this.timer = setInterval(() => this.sweep(performance.now()), tickMs);
    this.timer.unref();
  }

  watch(entry: Watched): Link<Watched> {
    return this.waiting.add(entry);
  }

  unwatch(link: Link<Watched>): void {
    this.waiting.remove(link);
  }

  sweep(now: number): void {
    for (const entry of this.waiting.values()) {
      if (now >= entry.deadline) {
        this.unwatch(entry.link);
        entry.expire(now);
      } else if (entry.slowAt !== 0 && now >= entry.slowAt) {
        entry.slowAt = 0;
        entry.slow();
      }
    }
  }

  get size(): number {
    return this.waiting.size;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/**
 * One request's wait for its upstream answer. Past the response timeout it cancels the
 * exchange; once slow, it listens for the visitor leaving (their signal is only touched then),
 * which cancels the exchange too. A visitor who leaves a fast request costs the backend
 * nothing more than the answer it was already sending.
 */
export class AnswerWait implements Watched {
  deadline: number;
  slowAt: number;
  timedOut = false;
  /** it timed out waiting for the visitor's body, not for the backend */
  visitorStalled = false;
  link: Link<Watched>;
  private listening = false;

  constructor(
    private readonly deadlines: Deadlines,
    private readonly exchange: Pick<Exchange, "cancel"> & { readonly upload?: Upload },
    private readonly request: { readonly signal: AbortLike },
    now = performance.now(),
  ) {
    this.deadline = now + deadlines.timeoutMs;
    this.slowAt = now + deadlines.tickMs;
    this.link = deadlines.watch(this);
  }

  expire(now: number): void {
    const upload = this.exchange.upload;
    if (upload !== undefined) {
      // the wait for the answer starts when the body has gone out whole, and a body that is
      // still moving is not late: an upload slower than the timeout arrives whole
      const due = upload.movedAt + this.deadlines.timeoutMs;
      if (due > now) {
        this.deadline = due;
        this.link = this.deadlines.watch(this);
        return;
      }
      this.visitorStalled = upload.waitingOn === "visitor";
    }
    this.timedOut = true;
    this.exchange.cancel("no answer within the response timeout");
  }

  slow(): void {
    const signal = this.request.signal;
    if (signal.aborted) {
      this.handleEvent();
      return;
    }
    this.listening = true;
    signal.addEventListener("abort", this, { once: true });
  }

  /** the visitor's signal fired */
  handleEvent(): void {
    this.exchange.cancel("the visitor went away");
  }

  /** The answer came (or failed): nothing more to watch. */
  done(): void {
    this.deadlines.unwatch(this.link);
    if (this.listening) this.request.signal.removeEventListener("abort", this);
  }
}
