import { RedisClient } from "bun";
import type { StateCommands } from "../shared/state/redis.ts";

export interface NativeRedis extends StateCommands {
  readonly connected: boolean;
  close(): void;
}

/**
 * The monitor's Redis connection, on Bun's built-in client: the state functions need only a
 * few commands, and it keeps the process about 15 MB smaller than ioredis would (see
 * docs/benchmarks.md). It reconnects on its own; while Redis is away a command fails at once.
 */
export function nativeRedis(url: string): NativeRedis {
  const client = new RedisClient(url, {
    autoReconnect: true,
    enableOfflineQueue: false,
    connectionTimeout: 2000,
  });
  let connecting: Promise<void> | undefined;
  const send = async (command: string, args: (string | number)[]) => {
    if (!client.connected) {
      connecting ??= client.connect().finally(() => {
        connecting = undefined;
      });
      await connecting;
    }
    return client.send(command, args.map(String));
  };
  return {
    get connected() {
      return client.connected;
    },
    close: () => client.close(),
    eval: (script, numberOfKeys, ...args) => send("EVAL", [script, numberOfKeys, ...args]),
    hexists: async (key, field) => Number(await send("HEXISTS", [key, field])),
    hget: async (key, field) => ((await send("HGET", [key, field])) as string | null) ?? null,
    hgetall: async (key) => toRecord(await send("HGETALL", [key])),
  };
}

/** RESP3 answers HGETALL with a map, RESP2 with a flat list; either becomes a record. */
function toRecord(reply: unknown): Record<string, string> {
  if (Array.isArray(reply)) {
    const out: Record<string, string> = {};
    for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
    return out;
  }
  return { ...(reply as Record<string, string>) };
}
