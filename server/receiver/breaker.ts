/**
 * The autoscaler's circuit breaker, shared with the healer: both provision hosts the same way,
 * so failures in a row count together, and once `max` is reached neither tries again until the
 * receiver restarts. `onOpen` is called once, when it opens (one mail).
 */
export class ProvisionBreaker {
  private count = 0;

  constructor(
    readonly max: number,
    private readonly onOpen: (failures: number, error: string) => void,
  ) {}

  get failures(): number {
    return this.count;
  }

  get open(): boolean {
    return this.count >= this.max;
  }

  succeeded(): void {
    if (!this.open) this.count = 0;
  }

  failed(error: string): void {
    if (this.open) return;
    this.count++;
    if (this.open) this.onOpen(this.count, error);
  }
}
