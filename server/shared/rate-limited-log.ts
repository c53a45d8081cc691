/**
 * Log lines for what a visitor can cause (refusals, aborts, proxy-made errors), at most
 * `perSecond` a second, so a flood of bad requests cannot fill the disk; what was held back
 * is counted and said on the next line that gets through.
 */
export class RateLimitedLog {
  private windowStart = 0;
  private written = 0;
  private suppressed = 0;

  constructor(
    private readonly perSecond = 20,
    private readonly write: (line: string) => void = (line) => console.error(line),
    private readonly now: () => number = Date.now,
    /** the server whose lines these are */
    private readonly name = "dropship-proxy",
  ) {}

  line(text: string): void {
    const now = this.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.written = 0;
    }
    if (this.written >= this.perSecond) {
      this.suppressed++;
      return;
    }
    this.written++;
    if (this.suppressed > 0) {
      this.write(`${this.name}: (${this.suppressed} similar lines not logged)`);
      this.suppressed = 0;
    }
    this.write(`${this.name}: ${text}`);
  }
}
