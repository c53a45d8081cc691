import { KEYS } from "../state/keys.ts";
import { type MirrorStatus, StateMirror } from "../state/mirror.ts";
import { type Flag, isEnabled, parseFlag } from "./model.ts";

export interface FlagClientOptions {
  redisUrl: string;
  pollMs?: number;
  startWaitMs?: number;
  /** values used until Redis first answers, and for flags Redis does not have */
  defaults?: Record<string, Pick<Flag, "enabled" | "rollout">>;
  log?: (line: string) => void;
  /** share a mirror that already follows the flags hash */
  mirror?: StateMirror;
}

export type FlagStatus = MirrorStatus & { count: number };

/**
 * The servers' view of the flags, over an in-memory mirror of Redis. Evaluating a flag never
 * touches the network and never throws; while Redis is away it answers with the last known
 * values and says they are stale.
 */
export class FlagClient {
  private readonly mirror: StateMirror;
  private readonly owned: boolean;
  private readonly cache = new Map<string, Flag>();

  constructor(private readonly options: FlagClientOptions) {
    this.owned = !options.mirror;
    this.mirror =
      options.mirror ?? new StateMirror({ ...options, hashes: [KEYS.flags], log: options.log });
    this.mirror.onChange((hash, field) => {
      if (hash === KEYS.flags) this.cache.delete(field);
    });
  }

  async start(): Promise<void> {
    if (this.owned) await this.mirror.start();
  }

  isEnabled(name: string, clientId?: string): boolean {
    return isEnabled(this.get(name), clientId);
  }

  get(name: string): Flag | undefined {
    const cached = this.cache.get(name);
    if (cached) return cached;
    const json = this.mirror.get(KEYS.flags, name);
    const flag = json ? parseFlag(json) : this.fallback(name);
    if (flag) this.cache.set(name, flag);
    return flag;
  }

  all(): Flag[] {
    const names = new Set([...Object.keys(this.options.defaults ?? {})]);
    for (const [name] of this.mirror.entries(KEYS.flags)) names.add(name);
    return [...names]
      .map((name) => this.get(name))
      .filter((flag): flag is Flag => flag !== undefined)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  status(): FlagStatus {
    return { ...this.mirror.status(), count: this.all().length };
  }

  async stop(): Promise<void> {
    if (this.owned) await this.mirror.stop();
  }

  private fallback(name: string): Flag | undefined {
    const value = this.options.defaults?.[name];
    return value && { name, ...value, version: 0, updatedAt: "", updatedBy: "default" };
  }
}
