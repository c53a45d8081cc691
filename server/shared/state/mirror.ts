import { parseEvent } from "./change.ts";
import { KEYS, type MirroredHash } from "./keys.ts";
import { connectRedis, type RedisClient } from "./redis.ts";

export interface MirrorOptions {
  redisUrl: string;
  hashes: readonly MirroredHash[];
  /** a safety net behind pub/sub; default 30 s */
  pollMs?: number;
  /** how long start() waits for Redis before going on with what it has; default 2 s */
  startWaitMs?: number;
  log?: (line: string) => void;
}

export interface MirrorStatus {
  /** true while the copy may be out of date: Redis unreachable or never read */
  stale: boolean;
  syncedAt: string | null;
}

interface Entry {
  json: string;
  version: number;
}

/**
 * An in-memory copy of some shared-state hashes: read whole at start, after every reconnect
 * and on a slow poll, and kept current in between by the events every change publishes.
 * Reading it never touches the network; while Redis is away it keeps the last known copy.
 */
export class StateMirror {
  private readonly data = new Map<string, Map<string, Entry>>();
  private syncedAt: number | null = null;
  private readonly commands: RedisClient;
  private readonly subscriber: RedisClient;
  private poll: Timer | undefined;
  private readonly listeners = new Set<(hash: string, field: string, json: string) => void>();

  constructor(private readonly options: MirrorOptions) {
    for (const hash of options.hashes) this.data.set(hash, new Map());
    const { redisUrl, log } = options;
    this.commands = connectRedis(redisUrl, { purpose: "state", persistent: true, log });
    this.subscriber = connectRedis(redisUrl, {
      purpose: "state updates",
      persistent: true,
      log: () => {},
    });
    this.subscriber.options.enableOfflineQueue = true;
    this.subscriber.on("message", (_channel: string, message: string) => {
      const event = parseEvent(message);
      if (event) this.apply(event.hash, event.field, event.value, event.version);
    });
    this.commands.on("ready", () => void this.sync());
    this.subscriber.on("ready", () => void this.sync());
  }

  /**
   * Subscribes, then reads everything, waiting at most `startWaitMs`; never rejects. The read
   * that ends the wait comes after the subscription holds, so no change falls between them;
   * a read done before it (the commands' connection is often ready first) does not end it.
   */
  async start(): Promise<void> {
    let subscribed = false;
    void this.subscriber.subscribe(KEYS.events).then(
      async () => {
        await this.sync();
        subscribed = true;
      },
      () => {},
    );
    this.poll = setInterval(() => void this.sync(), this.options.pollMs ?? 30_000);
    const wait = this.options.startWaitMs ?? 2000;
    const deadline = Date.now() + wait;
    while (!(subscribed && !this.status().stale) && Date.now() < deadline) await Bun.sleep(10);
  }

  /** Every field of a hash as stored JSON. */
  entries(hash: MirroredHash): IterableIterator<[string, Entry]> {
    return (this.data.get(hash) ?? new Map()).entries();
  }

  get(hash: MirroredHash, field: string): string | undefined {
    return this.data.get(hash)?.get(field)?.json;
  }

  status(): MirrorStatus {
    const connected = this.subscriber.status === "ready" && this.commands.status === "ready";
    return {
      stale: !connected || this.syncedAt === null,
      syncedAt: this.syncedAt === null ? null : new Date(this.syncedAt).toISOString(),
    };
  }

  /** Called with every change after start ("" as json when a field was deleted). */
  onChange(listener: (hash: string, field: string, json: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    clearInterval(this.poll);
    this.subscriber.disconnect();
    this.commands.disconnect();
  }

  /** Keeps the newer of two values, so a slow full read never undoes a pushed change. */
  private apply(hash: string, field: string, json: string, version: number) {
    const fields = this.data.get(hash);
    if (!fields) return;
    const known = fields.get(field);
    if (known && known.version >= version) return;
    if (json === "") fields.delete(field);
    else fields.set(field, { json, version });
    for (const listener of this.listeners) listener(hash, field, json);
  }

  private async sync(): Promise<void> {
    if (this.commands.status !== "ready") return;
    try {
      const pipeline = this.commands.pipeline();
      for (const hash of this.options.hashes) pipeline.hgetall(hash);
      const replies = (await pipeline.exec()) ?? [];
      this.options.hashes.forEach((hash, i) => {
        const [error, raw] = replies[i] ?? [new Error("no reply")];
        if (error) throw error;
        const remote = raw as Record<string, string>;
        const fields = this.data.get(hash) as Map<string, Entry>;
        for (const field of [...fields.keys()]) {
          if (!(field in remote)) this.apply(hash, field, "", Number.MAX_SAFE_INTEGER);
        }
        for (const [field, json] of Object.entries(remote)) {
          this.apply(hash, field, json, versionOf(json));
        }
      });
      this.syncedAt = Date.now();
    } catch {
      // Redis went away mid-read: the next reconnect or poll tries again
    }
  }
}

function versionOf(json: string): number {
  try {
    const version = (JSON.parse(json) as { version?: unknown }).version;
    return typeof version === "number" ? version : 0;
  } catch {
    return 0;
  }
}
