export const TIMED_OUT = Symbol("response timeout");

interface Waiting {
  // biome-ignore lint/suspicious/noExplicitAny: resolves whichever promise race() made
  resolve: (value: any) => void;
  deadline: number;
}

/**
 * The response timeout, for requests waiting on their answer's headers: one sweep every
 * `tickMs` ends the wait of those past their deadline. A request that answers quickly pays for
 * no timer and no AbortController: in Bun 1.4 a controller per request cost ~12% of the proxy's
 * CPU and doubled its p99 (bench/proxy.ts, measured side by side).
 */
export class Deadlines {
  private readonly waiting = new Set<Waiting>();
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly timeoutMs: number,
    tickMs = 100,
  ) {
    this.timer = setInterval(() => this.sweep(Date.now()), tickMs);
    this.timer.unref();
  }

  /**
   * `work`'s result, or TIMED_OUT when it has not settled within the timeout. One promise and
   * no timer per call: `work` settling resolves it directly, the sweep resolves it when late.
   */
  race<T>(work: Promise<T>): Promise<T | typeof TIMED_OUT> {
    return new Promise<T | typeof TIMED_OUT>((resolve, reject) => {
      const entry: Waiting = { resolve, deadline: Date.now() + this.timeoutMs };
      this.waiting.add(entry);
      work.then(
        (value) => {
          this.waiting.delete(entry);
          resolve(value);
        },
        (error) => {
          this.waiting.delete(entry);
          reject(error);
        },
      );
    });
  }

  sweep(now: number): void {
    for (const entry of this.waiting) {
      if (now < entry.deadline) continue;
      this.waiting.delete(entry);
      entry.resolve(TIMED_OUT);
    }
  }

  get size(): number {
    return this.waiting.size;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
