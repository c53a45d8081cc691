import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { FleetHostRecord } from "../gitops/model.ts";
import { gitopsDir, InventoryRepo } from "../gitops/repo.ts";
import { describeBackups } from "../pipeline/backup.ts";
import { finishedTimes } from "../pipeline/backup-sets.ts";
import { describeFreeze, readFreeze } from "../pipeline/freeze.ts";
import { describeJobs } from "../pipeline/jobs.ts";
import { formatCost, hourlyCost } from "../server/shared/cloud/sizes.ts";
import { describeGuards } from "../server/shared/config/guards.ts";
import { loadLocatedConfig } from "../server/shared/config/locate.ts";
import { localPaths } from "../server/shared/config/paths.ts";
import { ADMIN_PORT } from "../server/shared/env.ts";
import { describeFlag } from "../server/shared/flags/model.ts";
import {
  adminTargets,
  combineProxyViews,
  fleetRows,
  type ProxyBackend,
} from "../server/shared/fleet-view.ts";
import { releaseVersion } from "../server/shared/host/layout.ts";
import { describeSteps } from "../server/shared/routing/steps.ts";
import { recentEvents } from "../server/shared/state/events.ts";
import { listFlags } from "../server/shared/state/flags.ts";
import { beingReplaced, listHosts } from "../server/shared/state/hosts.ts";
import { lastRuns } from "../server/shared/state/jobs.ts";
import { KEYS } from "../server/shared/state/keys.ts";
import { readMaintenance } from "../server/shared/state/maintenance.ts";
import type { RedisClient } from "../server/shared/state/redis.ts";
import {
  describeRedisMemory,
  parseRedisMemory,
  type RedisMemory,
} from "../server/shared/state/redis-memory.ts";
import { listAlerts, listBackends, readCanary } from "../server/shared/state/routing.ts";
import { readCertificates, readStatuses } from "../server/shared/state/tls.ts";
import { certificateRows } from "../server/shared/tls/rows.ts";
import { runVerb, type VerbSpec } from "./lib/cli.ts";
import { cliRedis } from "./lib/redis.ts";
import { printTable } from "./lib/table.ts";

const SPEC = {
  verb: "status",
  usage: ["status"],
  about: `The fleet at a glance: every host with its role, address, release, place in the rotation,
health and in-flight requests (asked of every proxy of the inventory at its address, on
DASHBOARD_URL's port and scheme (else ${ADMIN_PORT}), and summed; without proxies there, of
DASHBOARD_URL or port ${ADMIN_PORT} of PROXY_URL's host; with DROPSHIP_ADMIN_TOKEN), CPU and
memory from its monitor; the fleet's cost per hour from the GitOps inventory;
the canary, alerts, flags, Redis's memory, the proxy's limits on one visitor, the newest
backup set, the last deploys and scaling events; a deploy freeze while it is on.`,
  env: [
    "REDIS_URL",
    "DROPSHIP_CONFIG",
    "DROPSHIP_WORK",
    "DROPSHIP_GITOPS_REPO",
    "DROPSHIP_BACKUPS",
    "PROXY_URL",
    "DASHBOARD_URL",
    "DROPSHIP_ADMIN_TOKEN",
  ],
} satisfies VerbSpec;

await runVerb(SPEC, async () => {
  const redis = await cliRedis();
  try {
    await show(redis);
  } finally {
    redis.disconnect();
  }
});

async function readInventory(): Promise<FleetHostRecord[]> {
  const { config } = loadLocatedConfig((line) => console.error(line));
  const dir = gitopsDir(config);
  return existsSync(join(dir, "inventory.yml")) ? (await new InventoryRepo(dir).read()).hosts : [];
}

/**
 * The proxies' live view of their backends, combined; undefined (and said) when none could be
 * asked. A proxy that does not answer is said, and the others' views stand.
 */
async function askProxies(
  notes: string[],
  inventory: readonly FleetHostRecord[],
  domain?: string,
): Promise<ProxyBackend[] | undefined> {
  const targets = adminTargets(process.env, inventory, domain !== undefined, ADMIN_PORT);
  const token = process.env.DROPSHIP_ADMIN_TOKEN;
  if (targets.length === 0 || !token) {
    notes.push("health and in-flight need DASHBOARD_URL (or PROXY_URL) and DROPSHIP_ADMIN_TOKEN");
    return undefined;
  }
  // with HTTPS the admin listener has the site's certificate: reached at the proxy's private
  // address, it is checked against the site's name (and the demo's CA, DROPSHIP_CA_FILE)
  const caFile = process.env.DROPSHIP_CA_FILE;
  let ca: string | undefined;
  try {
    const https = targets.some((t) => t.origin.startsWith("https:"));
    ca = caFile && https ? readFileSync(caFile, "utf8") : undefined;
  } catch (error) {
    notes.push(`DROPSHIP_CA_FILE ${caFile} cannot be read (${(error as Error).message})`);
    return undefined;
  }
  const views = await Promise.all(
    targets.map(async ({ name, origin }) => {
      try {
        const tls =
          origin.startsWith("https:") && domain
            ? { serverName: domain, ...(ca ? { ca } : {}) }
            : undefined;
        const response = await fetch(`${origin}/_dropship/status`, {
          headers: { authorization: `Bearer ${token}` },
          signal: AbortSignal.timeout(3000),
          ...(tls ? { tls } : {}),
        });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        return ((await response.json()) as { backends: ProxyBackend[] }).backends;
      } catch (error) {
        return `${name ? `${name}'s` : "the proxy's"} admin listener at ${origin} did not answer (${(error as Error).message})`;
      }
    }),
  );
  // in the inventory's order, whichever answered first
  notes.push(...views.filter((view) => typeof view === "string"));
  const answered = views.filter((view) => typeof view !== "string");
  return answered.length > 0 ? combineProxyViews(answered) : undefined;
}

/** What redis-server holds and may hold; undefined when its INFO does not say. */
async function redisMemory(redis: RedisClient): Promise<RedisMemory | undefined> {
  // both sections in one round trip (Redis 7 takes several)
  return parseRedisMemory((await redis.call("INFO", "memory", "stats")) as string);
}

async function show(redis: RedisClient) {
  const notes: string[] = [];
  const { config } = loadLocatedConfig(() => {});
  const [
    backends,
    reports,
    canary,
    alerts,
    flags,
    deploys,
    scaling,
    { hosts: inventory, proxy, replacing },
    maintenance,
    memory,
  ] = await Promise.all([
    listBackends(redis),
    listHosts(redis),
    readCanary(redis, config.canary.weight),
    listAlerts(redis),
    listFlags(redis),
    recentEvents(redis, KEYS.deploys, 8),
    recentEvents(redis, KEYS.scaling, 5),
    readInventory().then(async (hosts) => {
      const [proxy, replacing] = await Promise.all([
        askProxies(notes, hosts, config.proxy.tls.domains[0]),
        beingReplaced(
          redis,
          hosts.map((h) => h.name),
        ),
      ]);
      return { hosts, proxy, replacing };
    }),
    readMaintenance(redis),
    redisMemory(redis),
  ]);
  console.log("HOSTS");
  const rows = fleetRows({ inventory, reports, backends, proxy, now: Date.now() });
  printTable([
    ["HOST", "ROLE", "ADDRESS", "RELEASE", "ROTATION", "HEALTH", "IN-FLIGHT", "CPU", "MEM", "SEEN"],
    ...rows.map((r) => [
      r.host,
      r.role,
      r.address,
      r.release,
      r.rotation,
      r.health,
      r.inFlight,
      r.cpu,
      r.memory,
      r.seen,
    ]),
  ]);
  for (const note of notes) console.log(`(${note})`);
  for (const [host, why] of replacing)
    console.log(`(${host} is being replaced by the heal: ${why})`);
  console.log(
    inventory.length > 0
      ? `\nCOST    ${formatCost(hourlyCost(inventory.map((h) => h.size)))} for ${inventory.length} droplets`
      : "\nCOST    no droplets in the GitOps inventory",
  );
  if (maintenance?.on)
    console.log(
      `MAINTENANCE on since ${maintenance.since} (by ${maintenance.by}): every app request gets a 503 page — bun run maintenance off`,
    );
  const freeze = readFreeze(localPaths(config, process.env).work);
  if (freeze) console.log(`DEPLOYS ${describeFreeze(freeze)}`);
  const blocked = canary.state === "aborted" || alerts.some((a) => a.canary);
  console.log(
    `CANARY  weight ${canary.weight}%, ${canary.state}${canary.reason ? ` (${canary.reason})` : ""}${blocked ? " — staging gets nothing" : ""}`,
  );
  const steps = describeSteps(canary, Date.now());
  if (steps) console.log(`STEPS   ${steps}`);
  for (const alert of alerts) console.log(`ALERT   ${alert.id}: ${alert.summary}`);
  if (alerts.length === 0) console.log("ALERTS  none");
  console.log(`FLAGS   ${flags.map((f) => `${f.name} ${describeFlag(f)}`).join(", ") || "none"}`);
  console.log(
    `REDIS   ${memory ? describeRedisMemory(memory) : "(its INFO did not say its memory)"}`,
  );
  console.log(`GUARDS  ${describeGuards(config.proxy)}`);
  const backups = localPaths(config, process.env).backups;
  const finished = finishedTimes(backups);
  console.log(
    `BACKUPS ${describeBackups({
      ...(finished.length > 0 && { newest: Math.max(...finished) }),
      count: finished.length,
      dir: backups,
      now: Date.now(),
      ...(config.backup.enabled && { every: config.backup.every }),
    })}`,
  );
  if (config.jobs.length > 0)
    console.log(`JOBS    ${describeJobs(config.jobs, await lastRuns(redis), Date.now())}`);
  console.log("\nLAST DEPLOYS");
  printTable([
    ["WHEN", "BRANCH", "COMMIT", "WHO", "RESULT", "SECONDS"],
    ...deploys.map((d) => [
      d.at ?? "",
      d.branch ?? "",
      releaseVersion(d.commit ?? ""),
      d.who ?? "",
      d.result ?? "",
      d.seconds ?? "",
    ]),
  ]);
  if (config.proxy.tls.domains.length > 0) {
    console.log("\nCERTIFICATES");
    const [held, statuses] = await Promise.all([readCertificates(redis), readStatuses(redis)]);
    printTable([
      ["DOMAIN", "EXPIRES", "DAYS LEFT", "ISSUER", "LAST ERROR"],
      ...certificateRows(config.proxy.tls.domains, held, statuses, new Date()),
    ]);
  }
  if (scaling.length > 0) {
    console.log("\nSCALING");
    printTable([
      ["WHEN", "ACTION", "HOST", "RESULT", "WHY"],
      ...scaling.map((e) => [
        e.at ?? "",
        e.action ?? "",
        e.host ?? "",
        e.result ?? "",
        e.why ?? "",
      ]),
    ]);
  }
}
