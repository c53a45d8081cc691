import { existsSync } from "node:fs";
import { inventoryRepoFor } from "../gitops/repo.ts";
import { reconcile, scaleDeps, scaleIn, scaleOut } from "../pipeline/scale.ts";
import { providerFromEnv } from "../server/shared/cloud/digitalocean.ts";
import { formatCost, hourlyCost } from "../server/shared/cloud/sizes.ts";
import { loadRequiredConfig } from "../server/shared/config/locate.ts";
import { localPaths } from "../server/shared/config/paths.ts";
import { counted } from "../server/shared/text/words.ts";
import { runCli, UsageError } from "./lib/cli.ts";
import { cliRedis } from "./lib/redis.ts";

const USAGE = `
Usage: bun run scale [--count N | --to N | --down] [--dry-run]
       bun run scale --reconcile [--delete]

Adds production droplets (one by default, N with --count, up to N in all with --to) or
removes one (--down), within autoscale/min and autoscale/max. Each added host is created,
converged with ansible/product.yml, given the release production runs, health-checked, put
in the proxy's rotation and committed to the GitOps inventory; a failure undoes it.
--dry-run prints the plan and the fleet's cost per hour, and changes nothing. --reconcile
lists droplets with the deployment's tag that the inventory does not know (--delete removes
them); every scale-out reports them first.

Reads DROPSHIP_CONFIG (default dropship.yml), DIGITALOCEAN_TOKEN, DIGITALOCEAN_API_URL,
REDIS_URL, DROPSHIP_SSH_KEY (private key; its .pub is registered), DROPSHIP_KNOWN_HOSTS
(default .dropship/known_hosts) and DROPSHIP_WORK (default .dropship/work).
`;

await runCli("scale", USAGE, async (args) => {
  if (args[0] === "--reconcile") {
    if (args.slice(1).some((a) => a !== "--delete"))
      throw new UsageError("usage: scale --reconcile [--delete]");
    const { config } = loadRequiredConfig((line) => console.error(line));
    const say = (line: string) => console.log(line);
    const deps = {
      config,
      provider: providerFromEnv(),
      repo: inventoryRepoFor(config),
      say,
    };
    const orphans = await reconcile(
      deps as Parameters<typeof reconcile>[0],
      args.includes("--delete"),
    );
    if (orphans.length === 0) console.log("no orphans: every tagged droplet is in the inventory");
    return;
  }
  const dryRun = args.includes("--dry-run");
  const rest = args.filter((a) => a !== "--dry-run");
  const { config } = loadRequiredConfig((line) => console.error(line));
  const repo = inventoryRepoFor(config);
  const inventory = await repo.read();
  const now = inventory.hosts.filter((h) => h.role === "production").length;
  const target = targetOf(rest, now);
  const { min, max } = config.autoscale;
  if (target > max)
    throw new UsageError(
      `${counted(target, "production host")} is above autoscale/max (${max}); raise the cap in the config first`,
    );
  if (target < min && target < now)
    throw new UsageError(`${counted(target, "production host")} is below autoscale/min (${min})`);
  const others = inventory.hosts.filter((h) => h.role !== "production").map((h) => h.size);
  const cost = (hosts: number) =>
    formatCost(hourlyCost([...others, ...Array(hosts).fill(config.roles.production.size)]));
  console.log(
    `production: ${now} → ${counted(target, "host")} (${config.roles.production.size}); fleet cost ${cost(now)} → ${cost(target)}`,
  );
  if (dryRun || target === now) return;

  const paths = localPaths(config);
  const keyFile = paths.sshKey;
  if (!existsSync(keyFile) || !existsSync(`${keyFile}.pub`))
    throw new UsageError(`no SSH key pair at ${keyFile}(.pub) — set DROPSHIP_SSH_KEY`);
  const redis = await cliRedis();
  try {
    const deps = scaleDeps(config, paths, redis, repo, (line) => console.log(line));
    for (let hosts = now; hosts < target; hosts++)
      await scaleOut(deps, `by hand (${hosts} → ${hosts + 1})`);
    for (let hosts = now; hosts > target; hosts--)
      await scaleIn(deps, `by hand (${hosts} → ${hosts - 1})`);
  } finally {
    redis.disconnect();
  }
});

function targetOf(args: string[], now: number): number {
  const [flag, value, ...extra] = args;
  if (extra.length > 0) throw new UsageError(`unexpected ${extra.join(" ")} — see --help`);
  if (flag === undefined) return now + 1;
  if (flag === "--down" && value === undefined) return now - 1;
  const n = Number(value);
  if ((flag === "--count" || flag === "--to") && Number.isInteger(n) && n >= 0)
    return flag === "--count" ? now + n : n;
  throw new UsageError(`cannot read ${args.join(" ")} — use --count N, --to N or --down`);
}
