import { listFlags } from "../state/flags.ts";
import { KEYS } from "../state/keys.ts";
import { connectRedis, type RedisClient } from "../state/redis.ts";
import { type Flag, isEnabled, parseFlag } from "./model.ts";

export interface FlagClientOptions {
  redisUrl: string;
  /** a safety net behind pub/sub; default 30 s */
  pollMs?: number;
  /** how long start() waits for Redis before serving with what it has; default 2 s */
  startWaitMs?: number;
  /** values used until Redis first answers */
  defaults?: Record<string, Pick<Flag, "enabled" | "rollout">>;
  log?: (line: string) => void;
}

export interface FlagStatus {
  /** true while the values may be out of date: Redis unreachable or never read */
  stale: boolean;
  syncedAt: string | null;
  count: number;
}

/**
 * The servers' view of the flags: all of them in memory, pushed over pub/sub, re-read after
 * every reconnect and on a slow poll. Evaluating a flag never touches the network and never
 * throws; while Redis is away it answers with the last known values and says they are stale.
 */
export class FlagClient {
  private flags = new Map<string, Flag>();
  private syncedAt: number | null = null;
  private readonly commands: RedisClient;
  private readonly subscriber: RedisClient;
  private poll: Timer | undefined;
  private readonly listeners = new Set<(flag: Flag) => void>();

  constructor(private readonly options: FlagClientOptions) {
    for (const [name, value] of Object.entries(options.defaults ?? {})) {
      this.flags.set(name, { name, ...value, version: 0, updatedAt: "", updatedBy: "default" });
    }
    const log = options.log;
    this.commands = connectRedis(options.redisUrl, { purpose: "flags", persistent: true, log });
    this.subscriber = connectRedis(options.redisUrl, {
      purpose: "flag updates",
      persistent: true,
      log: () => {},
    });
    this.subscriber.options.enableOfflineQueue = true;
    this.subscriber.on("message", (_channel: string, message: string) => this.onMessage(message));
    this.commands.on("ready", () => void this.sync());
    this.subscriber.on("ready", () => void this.sync());
  }

  /** Subscribes and loads every flag, waiting at most `startWaitMs`; never rejects. */
  async start(): Promise<void> {
    this.subscriber.subscribe(KEYS.events).catch(() => {});
    this.poll = setInterval(() => void this.sync(), this.options.pollMs ?? 30_000);
    const loaded = new Promise<void>((resolve) => {
      if (this.syncedAt !== null) return resolve();
      const check = setInterval(() => {
        if (this.syncedAt !== null) {
          clearInterval(check);
          resolve();
        }
      }, 10);
      setTimeout(() => clearInterval(check), this.options.startWaitMs ?? 2000);
    });
    await Promise.race([loaded, Bun.sleep(this.options.startWaitMs ?? 2000)]);
  }

  isEnabled(name: string, clientId?: string): boolean {
    return isEnabled(this.flags.get(name), clientId);
  }

  get(name: string): Flag | undefined {
    return this.flags.get(name);
  }

  all(): Flag[] {
    return [...this.flags.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  status(): FlagStatus {
    const connected = this.subscriber.status === "ready" && this.commands.status === "ready";
    return {
      stale: !connected || this.syncedAt === null,
      syncedAt: this.syncedAt === null ? null : new Date(this.syncedAt).toISOString(),
      count: this.flags.size,
    };
  }

  /** Called with every flag value that changes after start. */
  onChange(listener: (flag: Flag) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    clearInterval(this.poll);
    this.subscriber.disconnect();
    this.commands.disconnect();
  }

  private onMessage(message: string) {
    let event: { type?: string; flag?: unknown };
    try {
      event = JSON.parse(message);
    } catch {
      return;
    }
    if (event.type !== "flag") return;
    const flag = parseFlag(JSON.stringify(event.flag));
    if (flag) this.apply(flag);
  }

  /** Keeps the newer of two values, so a slow full read never undoes a pushed change. */
  private apply(flag: Flag) {
    const known = this.flags.get(flag.name);
    if (known && known.version >= flag.version) return;
    this.flags.set(flag.name, flag);
    for (const listener of this.listeners) listener(flag);
  }

  private async sync(): Promise<void> {
    if (this.commands.status !== "ready") return;
    try {
      for (const flag of await listFlags(this.commands)) this.apply(flag);
      this.syncedAt = Date.now();
    } catch {
      // Redis went away mid-read: the next reconnect or poll tries again
    }
  }
}
