import Redis from "ioredis";
import type { RedisClient } from "./redis.ts";

/**
 * Keys copied whole between two Redis servers with DUMP and RESTORE: from a backup's snapshot,
 * loaded into a redis-server of its own, to the fleet's. The value travels in Redis's own
 * serialization, so every type (hashes, streams, lists) and a key's time to live come back as
 * they were.
 */
export interface KeyDump {
  key: string;
  /** milliseconds left to live; 0 for none (RESTORE's spelling) */
  ttl: number;
  payload: Buffer;
}

/** A client of a snapshot's own redis-server, on its Unix socket. */
export function connectSnapshot(socket: string, db: number): RedisClient {
  return new Redis({
    path: socket,
    db,
    enableOfflineQueue: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
}

export async function scanKeys(redis: RedisClient, pattern: string): Promise<string[]> {
  const keys = new Set<string>();
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    for (const key of batch) keys.add(key);
    cursor = next;
  } while (cursor !== "0");
  return [...keys].sort();
}

/** Each key's serialized value and time to live; a key that is gone is left out. */
export async function dumpKeys(redis: RedisClient, keys: readonly string[]): Promise<KeyDump[]> {
  const dumps: KeyDump[] = [];
  for (let at = 0; at < keys.length; at += 500) {
    const batch = keys.slice(at, at + 500);
    const pipeline = redis.pipeline();
    for (const key of batch) pipeline.dumpBuffer(key).pttl(key);
    const replies = (await pipeline.exec()) ?? [];
    batch.forEach((key, i) => {
      const [dumpError, payload] = replies[2 * i] ?? [];
      const [, pttl] = replies[2 * i + 1] ?? [];
      if (dumpError) throw dumpError;
      if (!payload) return;
      dumps.push({ key, ttl: Math.max(0, Number(pttl)), payload: payload as Buffer });
    });
  }
  return dumps;
}

/**
 * Writes each key. With `replace`, over whatever is there; without, only where the key is
 * absent, answering which were present (and left alone).
 */
export async function restoreKeys(
  redis: RedisClient,
  dumps: readonly KeyDump[],
  options: { replace: boolean },
): Promise<{ written: string[]; present: string[] }> {
  const written: string[] = [];
  const present: string[] = [];
  for (let at = 0; at < dumps.length; at += 500) {
    const batch = dumps.slice(at, at + 500);
    const pipeline = redis.pipeline();
    for (const d of batch)
      if (options.replace) pipeline.restore(d.key, d.ttl, d.payload, "REPLACE");
      else pipeline.restore(d.key, d.ttl, d.payload);
    const replies = (await pipeline.exec()) ?? [];
    for (const [i, d] of batch.entries()) {
      const error = replies[i]?.[0];
      if (!error) written.push(d.key);
      else if (!options.replace && /^BUSYKEY/.test(error.message)) present.push(d.key);
      else throw new Error(`RESTORE ${d.key}: ${error.message}`);
    }
  }
  return { written, present };
}

export async function removeKeys(redis: RedisClient, keys: readonly string[]): Promise<void> {
  for (let at = 0; at < keys.length; at += 500) await redis.del(...keys.slice(at, at + 500));
}
