import { join } from "node:path";
import type { HostRestarts } from "../../pipeline/app-env.ts";
import { drainAt } from "../../pipeline/deploy.ts";
import { readFleet } from "../../pipeline/fleet.ts";
import { withRoleLock } from "../../pipeline/lock.ts";
import type { RoleName } from "../../server/shared/config/schema.ts";
import { healthUrlOf } from "../../server/shared/roles.ts";
import { recordAction } from "../../server/shared/state/audit.ts";
import { connectRedis, type RedisClient, whenReady } from "../../server/shared/state/redis.ts";
import type { receiverSettings } from "./receiver-env.ts";
import { actor } from "./redis.ts";

/**
 * Runs `work` over the app hosts of each role in turn, production first, each role under its
 * deploy lock (so pushes, scaling and this take turns), with what a rolling restart needs:
 * the hosts' key, their health URLs, and a drain at the proxy through Redis. Once all went
 * through, records `audit` and hands Redis to `finish` (what else to record). Answers the hosts
 * `work` restarted.
 */
export async function eachAppRole(
  settings: ReturnType<typeof receiverSettings>,
  roles: readonly RoleName[],
  run: {
    /** the command, as the deploy lock names who holds it */
    verb: string;
    audit?: { kind: string; target: string; what: string };
    finish?: (redis: RedisClient) => Promise<void>;
  },
  work: (options: HostRestarts) => Promise<string[]>,
): Promise<string[]> {
  const { audit, finish } = run;
  const fleet = readFleet(settings.fleet.inventories);
  const redis = await reachRedis(settings.redisUrl);
  const say = (line: string) => console.log(line);
  try {
    const restarted: string[] = [];
    for (const role of roles) {
      const hosts = fleet.hosts.filter((h) => h.role === role);
      if (hosts.length === 0) continue;
      say(`▸ ${role}: ${hosts.map((h) => h.name).join(", ")}`);
      const options: HostRestarts = {
        hosts,
        privateKey: fleet.privateKey,
        privateKeyFile: fleet.privateKeyFile,
        healthUrl: (host) => healthUrlOf(settings.config, role, host.address),
        healthTimeoutMs: settings.config.pipeline.health_timeout,
        drain: (host, draining) =>
          drainAt(redis, `http://${host.address}:${settings.config.ports.app}`, draining),
        drainGraceMs: 500,
        say,
      };
      const lockDir = join(settings.workDir, "locks");
      const holder = `bun run ${run.verb} by ${actor()}`;
      const lockTimeout = settings.config.pipeline.lock_timeout;
      restarted.push(
        ...(await withRoleLock(lockDir, role, holder, lockTimeout, say, () => work(options))),
      );
    }
    if (redis && audit)
      await recordAction(redis, { ...audit, actor: actor() }).catch(() => undefined);
    if (redis && finish) await finish(redis).catch(() => undefined);
    return restarted;
  } finally {
    redis?.disconnect();
  }
}

/** Redis for draining at the proxy and the audit; without it hosts restart undrained, said so. */
async function reachRedis(url: string | undefined): Promise<RedisClient | undefined> {
  if (!url) {
    console.log("  (REDIS_URL not set: no draining at the proxy, no audit)");
    return undefined;
  }
  const redis = connectRedis(url, { purpose: "cli", persistent: false });
  try {
    await whenReady(redis, url, 5000);
    return redis;
  } catch {
    redis.disconnect();
    console.log("  (Redis unreachable: no draining at the proxy, no audit)");
    return undefined;
  }
}
