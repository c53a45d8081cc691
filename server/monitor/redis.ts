import { RedisClient } from "bun";
import type { StateCommands } from "../shared/state/redis.ts";
import { findPrimary } from "../shared/state/sentinel.ts";
import {
  isSentinelUrl,
  parseSentinelUrl,
  type SentinelTarget,
} from "../shared/state/sentinel-url.ts";

export interface NativeRedis extends StateCommands {
  readonly connected: boolean;
  close(): void;
}

/**
 * The monitor's Redis connection, on Bun's built-in client: the state functions need only a
 * few commands, and it keeps the process about 15 MB smaller than ioredis would (see
 * docs/benchmarks.md). It reconnects on its own; while Redis is away a command fails at once,
 * and one that gets no answer (a server that vanished closes no connection) fails after
 * ANSWER_TIMEOUT_MS.
 */
export function nativeRedis(url: string): NativeRedis {
  return isSentinelUrl(url) ? viaSentinel(parseSentinelUrl(url)) : direct(url);
}

const ANSWER_TIMEOUT_MS = 5000;

function direct(url: string, autoReconnect = true): NativeRedis {
  const client = new RedisClient(url, {
    autoReconnect,
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
    let timer: ReturnType<typeof setTimeout> | undefined;
    const silence = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Redis did not answer ${command} within ${ANSWER_TIMEOUT_MS} ms`)),
        ANSWER_TIMEOUT_MS,
      );
    });
    try {
      return await Promise.race([client.send(command, args.map(String)), silence]);
    } finally {
      clearTimeout(timer);
    }
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

/**
 * Bun's client knows nothing of Sentinel: the primary is asked of the Sentinels, and asked
 * again when a command fails (the connection lost, no answer, or READONLY from a primary that
 * was demoted), then the command is tried once more, on a new connection to the primary they
 * name. Each time it also learns the Sentinels there are now, as ioredis does: the monitor runs
 * for months, and the hosts its REDIS_URL names may all have been replaced meanwhile.
 */
function viaSentinel(target: SentinelTarget): NativeRedis {
  let current: { address: string; client: NativeRedis } | undefined;
  const primary = async () => {
    const { host, port } = await findPrimary(target, { learn: true });
    const address = `${host}:${port}`;
    if (current?.address !== address) {
      current?.client.close();
      const url = new URL(`redis://${host}:${port}/${target.db}`);
      url.username = target.username;
      url.password = target.password;
      // no reconnecting to a primary that is gone: fail at once, and ask the Sentinels again
      current = { address, client: direct(url.toString(), false) };
    }
    return current.client;
  };
  const call = async <T>(command: (client: NativeRedis) => Promise<T>): Promise<T> => {
    try {
      return await command(current?.client ?? (await primary()));
    } catch {
      // the connection may be a dead one that still looks open: never reuse it
      current?.client.close();
      current = undefined;
      return command(await primary());
    }
  };
  return {
    get connected() {
      return current?.client.connected ?? false;
    },
    // closed, it forgets the primary too: a later command asks the Sentinels again
    close: () => {
      current?.client.close();
      current = undefined;
    },
    eval: (script, numberOfKeys, ...args) => call((c) => c.eval(script, numberOfKeys, ...args)),
    hexists: (key, field) => call((c) => c.hexists(key, field)),
    hget: (key, field) => call((c) => c.hget(key, field)),
    hgetall: (key) => call((c) => c.hgetall(key)),
  };
}
