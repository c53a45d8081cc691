import { hostname, userInfo } from "node:os";
import { connectRedis, type RedisClient, whenReady } from "../../server/shared/state/redis.ts";
import { UsageError } from "./cli.ts";

/** A short-lived Redis connection for a CLI verb, from REDIS_URL in the environment or .env. */
export async function cliRedis(): Promise<RedisClient> {
  const url = process.env.REDIS_URL;
  if (!url) {
    throw new UsageError(
      "REDIS_URL is not set — put redis://:password@host:6379/0 in the environment or .env",
    );
  }
  const redis = connectRedis(url, { purpose: "cli", persistent: false });
  try {
    await whenReady(redis, url, 3000);
  } catch (error) {
    redis.disconnect();
    throw new UsageError((error as Error).message);
  }
  return redis;
}

/** Who made a change: DROPSHIP_ACTOR, else user@host. */
export function actor(): string {
  if (process.env.DROPSHIP_ACTOR) return process.env.DROPSHIP_ACTOR;
  const user = process.env.USER ?? process.env.LOGNAME ?? userInfo().username;
  return `${user}@${hostname()}`;
}
