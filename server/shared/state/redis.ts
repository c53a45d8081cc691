import Redis from "ioredis";
import { maskUrl } from "../secrets.ts";
import { isSentinelUrl, parseSentinelUrl } from "./sentinel-url.ts";

export type RedisClient = Redis;

/**
 * The few commands the state functions use, so a lighter client (the monitor's, on Bun's
 * built-in Redis) can stand in for ioredis. ioredis fits it as it is.
 */
export interface StateCommands {
  eval(script: string, numberOfKeys: number, ...args: (string | number)[]): Promise<unknown>;
  hexists(key: string, field: string): Promise<number>;
  hget(key: string, field: string): Promise<string | null>;
  hgetall(key: string): Promise<Record<string, string>>;
}

export interface ConnectOptions {
  /** what the connection is for, in log lines */
  purpose: string;
  /** keep retrying forever (servers) or give up after the first failure (CLI) */
  persistent: boolean;
  log?: (line: string) => void;
  /** how long one command may take (default 2 s; 15 s through Sentinel); a restore's are big */
  commandTimeoutMs?: number;
}

/**
 * A Redis connection that fails fast instead of queueing while Redis is away, reconnects
 * within a second when it returns, and logs each outage once — with the password masked.
 */
export function connectRedis(url: string, options: ConnectOptions): RedisClient {
  const where = maskUrl(url);
  const log = options.log ?? ((line: string) => console.error(line));
  const client = isSentinelUrl(url)
    ? viaSentinel(url, options)
    : new Redis(url, {
        lazyConnect: false,
        connectTimeout: 2000,
        commandTimeout: options.commandTimeoutMs ?? 2000,
        maxRetriesPerRequest: options.persistent ? 1 : 0,
        enableOfflineQueue: false,
        retryStrategy: options.persistent ? (times) => Math.min(50 * times, 1000) : () => null,
      });
  let down = false;
  client.on("error", (error: Error) => {
    if (down) return;
    down = true;
    if (options.persistent) {
      log(`${options.purpose}: cannot reach Redis at ${where} (${error.message}); retrying`);
    }
  });
  client.on("ready", () => {
    if (down) log(`${options.purpose}: Redis at ${where} is back`);
    down = false;
  });
  return client;
}

/**
 * The primary, found through Sentinel and found again after a failover (ioredis asks the
 * Sentinels on every reconnect). Unlike a single server's client, commands wait while the
 * primary changes — up to 15 s: a failover takes ~4–5 s (Sentinel's down-after is 3 s), ~11 s
 * when the Sentinels' first leader election splits and is tried again (failover-timeout 3 s,
 * the retry twice that later) — so a failover delays requests instead of failing them.
 * A primary whose droplet vanished closes no connection: nothing tells the client its socket
 * is dead, and every command on it would time out until TCP gives up (minutes). So the client
 * also listens to the Sentinels for the switch to a new primary (ioredis's failover detector:
 * a subscription on each of them) and reconnects then. Reconnecting first ends the old socket
 * and waits `disconnectTimeout` for the peer's close, which a vanished host never sends: 300 ms
 * rather than ioredis's 2 s, which every failover paid (bench/sentinel-election.ts: a write
 * worked again 0.3 s after the new primary instead of 2.0 s). A vanished host does not refuse a
 * connection either, and the lost primary's Sentinel may be the first one asked: 1 s to accept
 * before the next is tried, plenty on a private network.
 */
function viaSentinel(url: string, options: ConnectOptions): RedisClient {
  const target = parseSentinelUrl(url);
  const client = new Redis({
    sentinels: target.sentinels,
    name: target.name,
    role: "master",
    username: target.username || undefined,
    password: target.password || undefined,
    db: target.db,
    sentinelPassword: target.sentinelPassword || undefined,
    connectTimeout: 1000,
    disconnectTimeout: 300,
    sentinelCommandTimeout: 1000,
    failoverDetector: true,
    commandTimeout: Math.max(15_000, options.commandTimeoutMs ?? 0),
    enableOfflineQueue: true,
    maxRetriesPerRequest: options.persistent ? 20 : 3,
    retryStrategy: options.persistent
      ? (times) => Math.min(50 * times, 500)
      : (times) => (times > 20 ? null : 500),
    sentinelRetryStrategy: options.persistent
      ? (times) => Math.min(100 * times, 1000)
      : (times) => (times > 5 ? null : 500),
  });
  quietFailoverDetector(client);
  return client;
}

/**
 * The failover detector's own connections to the Sentinels have no error listener, so ioredis
 * would print "[ioredis] Unhandled error event" for each of their failures: one a minute for
 * every Sentinel that is down, in every process. They reconnect by themselves, and the main
 * connection reports what matters, so their errors are dropped here. ioredis (pinned) makes
 * them, and its own resolving connections, in `connectToSentinel`.
 */
function quietFailoverDetector(client: Redis): void {
  type Maker = (...args: unknown[]) => Redis;
  const connector = (client as unknown as { connector?: { connectToSentinel?: Maker } }).connector;
  const make = connector?.connectToSentinel?.bind(connector);
  if (!connector || !make) return;
  connector.connectToSentinel = (...args) => {
    const sentinel = make(...args);
    sentinel.on("error", () => {});
    return sentinel;
  };
}

/** Resolves once the client is ready, or rejects with a sentence after `ms`. */
export function whenReady(client: RedisClient, url: string, ms: number): Promise<void> {
  if (client.status === "ready") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(
        refused(url, lastError) ??
          new Error(`cannot reach Redis at ${maskUrl(url)} within ${ms} ms (${lastError})`),
      );
    }, ms);
    let lastError = "no answer";
    const onError = (error: Error) => {
      lastError = error.message;
    };
    const onReady = () => {
      cleanup();
      resolve();
    };
    const onEnd = () => {
      cleanup();
      reject(
        refused(url, lastError) ??
          new Error(`cannot reach Redis at ${maskUrl(url)} (${lastError}) — is it running?`),
      );
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off("ready", onReady).off("error", onError).off("end", onEnd);
    };
    client.on("ready", onReady).on("error", onError).on("end", onEnd);
  });
}

/** A server that answered and refused the credentials is running: say what to fix instead. */
function refused(url: string, error: string): Error | undefined {
  if (!/^(WRONGPASS|NOAUTH|NOPERM)/.test(error)) return undefined;
  return new Error(
    `Redis at ${maskUrl(url)} refused its user and password (${error}) — check the URL's user and password`,
  );
}
