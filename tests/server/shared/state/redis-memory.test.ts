import { expect, test } from "bun:test";
import { validateConfig } from "../../../../server/shared/config/validate.ts";
import {
  describeRedisMemory,
  parseRedisMemory,
  redisMemoryEnv,
} from "../../../../server/shared/state/redis-memory.ts";

const MIB = 1024 * 1024;

test("the playbook is told redis/maxmemory and maxmemory_policy as the config has them", () => {
  const config = validateConfig({ redis: { maxmemory: 300, maxmemory_policy: "noeviction" } });
  if (!config.ok) throw new Error(config.errors.join("; "));
  expect(redisMemoryEnv(config.config.redis)).toEqual({
    DROPSHIP_REDIS_MAXMEMORY: "300",
    DROPSHIP_REDIS_MAXMEMORY_POLICY: "noeviction",
  });
  const defaults = validateConfig({});
  if (!defaults.ok) throw new Error(defaults.errors.join("; "));
  expect(redisMemoryEnv(defaults.config.redis)).toEqual({
    DROPSHIP_REDIS_MAXMEMORY: "auto",
    DROPSHIP_REDIS_MAXMEMORY_POLICY: "volatile-lru",
  });
});

test("INFO's memory and stats are read; a section without them is not guessed at", () => {
  const info = [
    "# Memory",
    "used_memory:12582912",
    "used_memory_human:12.00M",
    "maxmemory:536870912",
    "maxmemory_human:512.00M",
    "maxmemory_policy:volatile-lru",
    "",
    "# Stats",
    "evicted_keys:7",
    "evicted_clients:0",
  ].join("\r\n");
  expect(parseRedisMemory(info)).toEqual({
    usedBytes: 12 * MIB,
    maxBytes: 512 * MIB,
    policy: "volatile-lru",
    evictedKeys: 7,
  });
  expect(parseRedisMemory("# Memory\r\nused_memory:1\r\n")).toBeUndefined();
});

test("the status line says how full it is, and what a full one does under its policy", () => {
  const of = (used: number, max: number, policy = "volatile-lru", evicted = 0) =>
    describeRedisMemory({
      usedBytes: used * MIB,
      maxBytes: max * MIB,
      policy,
      evictedKeys: evicted,
    });
  expect(of(12, 512)).toBe("12.0 MiB of 512.0 MiB (2%), volatile-lru; 0 keys given up so far");
  expect(of(500, 512, "volatile-lru", 1)).toBe(
    "500.0 MiB of 512.0 MiB (98%), volatile-lru; 1 key given up so far — full: keys that expire are given up to make room (redis/maxmemory, redis/maxmemory_policy)",
  );
  expect(of(500, 512, "noeviction")).toContain(
    "— full: writes are refused, dropship's own too (redis/maxmemory",
  );
  expect(of(500, 512, "allkeys-lru")).toContain(
    "— full: any key may be given up, dropship's flags too",
  );
  // a Redis set up before the limit existed
  expect(of(3, 0)).toBe(
    "3.0 MiB in use, no limit — set up before redis/maxmemory; bun run setup gives it one",
  );
});
