import type { Config } from "../config/schema.ts";

/**
 * dropship.yml's redis section as the redis playbook reads it (its environment): how much
 * data redis-server may hold, and what gives way when it is full. The playbook works out
 * `auto` on the host, from the memory the droplet has.
 */
export function redisMemoryEnv(redis: Config["redis"]): Record<string, string> {
  return {
    DROPSHIP_REDIS_MAXMEMORY: String(redis.maxmemory),
    DROPSHIP_REDIS_MAXMEMORY_POLICY: redis.maxmemory_policy,
  };
}

/** What redis-server says of its memory (INFO memory and stats). */
export interface RedisMemory {
  usedBytes: number;
  /** 0: no limit */
  maxBytes: number;
  policy: string;
  evictedKeys: number;
}

/** Reads INFO's memory and stats sections; undefined when a field is missing. */
export function parseRedisMemory(info: string): RedisMemory | undefined {
  const field = (name: string) => new RegExp(`^${name}:(\\S+)`, "m").exec(info)?.[1];
  const [used, max, policy, evicted] = [
    field("used_memory"),
    field("maxmemory"),
    field("maxmemory_policy"),
    field("evicted_keys"),
  ];
  if (used === undefined || max === undefined || policy === undefined || evicted === undefined)
    return undefined;
  return {
    usedBytes: Number(used),
    maxBytes: Number(max),
    policy,
    evictedKeys: Number(evicted),
  };
}

/** Past this share of its limit, a Redis is said to be full. */
const FULL = 0.9;

/** bun run status's REDIS line: how much it holds of how much, and what happens when full. */
export function describeRedisMemory(m: RedisMemory): string {
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  if (m.maxBytes === 0)
    return `${mib(m.usedBytes)} in use, no limit — set up before redis/maxmemory; bun run setup gives it one`;
  const share = m.usedBytes / m.maxBytes;
  const evicted = `${m.evictedKeys} ${m.evictedKeys === 1 ? "key" : "keys"} given up so far`;
  const line = `${mib(m.usedBytes)} of ${mib(m.maxBytes)} (${Math.round(share * 100)}%), ${m.policy}; ${evicted}`;
  if (share < FULL) return line;
  const full =
    m.policy === "noeviction"
      ? "writes are refused, dropship's own too"
      : m.policy.startsWith("volatile-")
        ? "keys that expire are given up to make room"
        : "any key may be given up, dropship's flags too";
  return `${line} — full: ${full} (redis/maxmemory, redis/maxmemory_policy)`;
}
