import { hostname, userInfo } from "node:os";
import { connectRedis, type RedisClient, whenReady } from "../../server/shared/state/redis.ts";
import { UsageError } from "./cli.ts";

/** A short-lived Redis connection for a CLI verb, from REDIS_URL in the environment or .env. */
export async function cliRedis(options: { commandTimeoutMs?: number } = {}): Promise<RedisClient> {
  const url = process.env.REDIS_URL;
  if (!url) {
    throw new UsageError(
      "REDIS_URL is not set — put redis://:password@host:6379/0 in the environment or .env",
    );
  }
  const redis = connectRedis(url, { purpose: "cli", persistent: false, ...options });
  try {
    await whenReady(redis, url, 3000);
  } catch (error) {
    redis.disconnect();
    throw new UsageError((error as Error).message);
  }
  return redis;
}

/**
 * Who made a change, for the audit: DROPSHIP_ACTOR, else the git identity of this checkout
 * (what the pushes of the same person are recorded as), else the login name at this host.
 */
export function actor(): string {
  const git = Bun.spawnSync(["git", "config", "user.email"], { stdout: "pipe", stderr: "ignore" });
  let login = process.env.USER ?? process.env.LOGNAME;
  try {
    login ??= userInfo().username;
  } catch {
    // no passwd entry for this uid (some containers)
  }
  return actorFrom({
    explicit: process.env.DROPSHIP_ACTOR,
    gitEmail: git.exitCode === 0 ? git.stdout.toString().trim() : undefined,
    login,
    uid: process.getuid?.(),
    host: hostname(),
  });
}

export function actorFrom(o: {
  explicit?: string;
  gitEmail?: string;
  login?: string;
  uid?: number;
  host: string;
}): string {
  if (o.explicit) return o.explicit;
  if (o.gitEmail) return o.gitEmail;
  const login = o.login && o.login !== "unknown" ? o.login : `uid${o.uid ?? "?"}`;
  return `${login}@${o.host}`;
}
