/**
 * Flag propagation: from a change (the moment `changeFlag` is called) to every one of three
 * running dropship-app processes answering /set with the new behaviour. Then the Redis
 * commands an app request costs, from INFO commandstats.
 *
 *   bun bench/flag-propagation.ts [changes=100]
 */
import { changeFlag } from "../server/shared/state/flags.ts";
import { connectRedis, whenReady } from "../server/shared/state/redis.ts";
import { benchRedis, benchServer, cleanup, percentile } from "./lib.ts";

const CHANGES = Number(process.argv[2] ?? 100);

try {
  const redis = await benchRedis();
  const admin = connectRedis(redis.url, { purpose: "bench", persistent: true });
  await whenReady(admin, redis.url, 5000);
  await changeFlag(admin, "disableSET", { enabled: false, rollout: 100 }, "bench", "create");
  const apps = await Promise.all([1, 2, 3].map(() => benchServer("app", { REDIS_URL: redis.url })));

  const slowest: number[] = [];
  const each: number[] = [];
  for (let i = 0; i < CHANGES; i++) {
    const enabled = i % 2 === 0;
    const expected = enabled ? 403 : 200;
    const started = performance.now();
    const change = changeFlag(admin, "disableSET", { enabled, rollout: 100 }, "bench", "update");
    const seen = await Promise.all(
      apps.map(async (app) => {
        for (;;) {
          const response = await fetch(`${app.url}/set?key=bench`);
          await response.arrayBuffer();
          if (response.status === expected) return performance.now() - started;
          if (performance.now() - started > 5000) throw new Error(`${app.url} never changed`);
        }
      }),
    );
    await change;
    each.push(...seen);
    slowest.push(Math.max(...seen));
    await Bun.sleep(20);
  }
  slowest.sort((a, b) => a - b);
  each.sort((a, b) => a - b);
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  console.log(`flag propagation over ${CHANGES} changes, 3 app processes`);
  console.log(
    `  all three apps: p50 ${ms(percentile(slowest, 50))}  p99 ${ms(percentile(slowest, 99))}  max ${ms(slowest.at(-1) ?? 0)}`,
  );
  console.log(`  any one app:    p50 ${ms(percentile(each, 50))}  p99 ${ms(percentile(each, 99))}`);

  // Commands per request on the hot path.
  await changeFlag(admin, "disableSET", { enabled: false, rollout: 100 }, "bench", "update");
  await Bun.sleep(100);
  const REQUESTS = 1000;
  for (const [path, label] of [
    ["/", "GET /"],
    ["/set?key=bench", "GET /set (flag checked)"],
  ] as const) {
    await admin.config("RESETSTAT");
    for (let i = 0; i < REQUESTS; i++) {
      await (await fetch(`${apps[i % 3]?.url}${path}`)).arrayBuffer();
    }
    const stats = await admin.info("commandstats");
    const calls = [...stats.matchAll(/cmdstat_([a-z|]+):calls=(\d+)/g)]
      .map(([, command, count]) => [command ?? "", Number(count)] as const)
      .filter(([command]) => !command.startsWith("config") && command !== "info");
    const perRequest = calls.map(([c, n]) => `${c} ${(n / REQUESTS).toFixed(3)}`).join(", ");
    const flagReads = calls
      .filter(([c]) => ["hget", "hgetall", "hmget", "eval", "evalsha"].includes(c))
      .reduce((sum, [, n]) => sum + n, 0);
    console.log(
      `  ${label}: Redis commands per request: ${perRequest || "none"}; flag reads: ${flagReads}`,
    );
  }
  admin.disconnect();
} finally {
  await cleanup();
}
