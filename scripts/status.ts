import { describeFlag } from "../server/shared/flags/model.ts";
import { listFlags } from "../server/shared/state/flags.ts";
import { listHosts } from "../server/shared/state/hosts.ts";
import { KEYS } from "../server/shared/state/keys.ts";
import type { RedisClient } from "../server/shared/state/redis.ts";
import { listAlerts, listBackends, readCanary } from "../server/shared/state/routing.ts";
import { runCli, UsageError } from "./lib/cli.ts";
import { cliRedis } from "./lib/redis.ts";
import { printTable } from "./lib/table.ts";

const USAGE = `
Usage: bun run status

The fleet at a glance, from Redis (REDIS_URL from the environment or .env): the proxy's
backends, each monitored host's CPU and memory, the canary, alerts, flags and the last deploys.
`;

await runCli("status", USAGE, async (args) => {
  if (args.length > 0) throw new UsageError(`takes no arguments, got: ${args.join(" ")}`);
  const redis = await cliRedis();
  try {
    await show(redis);
  } finally {
    redis.disconnect();
  }
});

async function show(redis: RedisClient) {
  const [backends, hosts, canary, alerts, flags, deploys] = await Promise.all([
    listBackends(redis),
    listHosts(redis),
    readCanary(redis),
    listAlerts(redis),
    listFlags(redis),
    redis.xrevrange(KEYS.deploys, "+", "-", "COUNT", 10),
  ]);
  console.log("BACKENDS");
  printTable([
    ["ID", "TRACK", "STATE"],
    ...backends.map((b) => [b.id, b.track, b.draining ? "draining" : "in rotation"]),
  ]);
  console.log("\nHOSTS");
  const now = Date.now();
  printTable([
    ["HOST", "ROLE", "CPU", "MEMORY", "RELEASE", "SEEN"],
    ...hosts.map((h) => [
      h.host,
      h.role,
      `${h.cpu.toFixed(0)}%`,
      `${h.memory.toFixed(0)}%`,
      h.release,
      `${Math.round((now - h.at) / 1000)} s ago`,
    ]),
  ]);
  const blocked = canary.state === "aborted" || alerts.some((a) => a.canary);
  console.log(
    `\nCANARY  weight ${canary.weight}%, ${canary.state}${canary.reason ? ` (${canary.reason})` : ""}${blocked ? " — staging gets nothing" : ""}`,
  );
  for (const alert of alerts) console.log(`ALERT   ${alert.id}: ${alert.summary}`);
  console.log(`FLAGS   ${flags.map((f) => `${f.name} ${describeFlag(f)}`).join(", ") || "none"}`);
  console.log("\nLAST DEPLOYS");
  printTable([
    ["WHEN", "BRANCH", "COMMIT", "WHO", "RESULT", "SECONDS"],
    ...deploys.map(([, fields]) => {
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2)
        f[fields[i] as string] = fields[i + 1] as string;
      return [
        f.at ?? "",
        f.branch ?? "",
        (f.commit ?? "").slice(0, 12),
        f.who ?? "",
        f.result ?? "",
        f.seconds ?? "",
      ];
    }),
  ]);
}
