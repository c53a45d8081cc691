import { inventoryRepoFor } from "../gitops/repo.ts";
import { reconcile, scaleDeps, scaleIn, scaleOut } from "../pipeline/scale.ts";
import { providerFromEnv } from "../server/shared/cloud/digitalocean.ts";
import { formatCost, hourlyCost } from "../server/shared/cloud/sizes.ts";
import { loadRequiredConfig } from "../server/shared/config/locate.ts";
import { localPaths } from "../server/shared/config/paths.ts";
import { counted } from "../server/shared/text/words.ts";
import { ArgumentError, type ParsedArgs, runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { cliRedis } from "./lib/redis.ts";

const SPEC = {
  verb: "scale",
  usage: ["scale [--count N | --to N | --down] [--dry-run]", "scale --reconcile [--delete]"],
  about: `Adds production droplets (one by default, N with --count, up to N in all with --to) or
removes one (--down), within autoscale/min and autoscale/max. Each added host is created,
converged with ansible/product.yml, given the release production runs, health-checked, put
in the proxy's rotation and committed to the GitOps inventory; a failure undoes it.
--reconcile lists droplets with the deployment's tag that the inventory does not know;
every scale-out reports them first.`,
  options: {
    count: { type: "string", value: "N", description: "add N production droplets" },
    to: { type: "string", value: "N", description: "add or remove until production has N" },
    down: { type: "boolean", description: "remove the newest production droplet" },
    "dry-run": {
      type: "boolean",
      description: "print the plan and the fleet's cost; change nothing",
    },
    reconcile: { type: "boolean", description: "list tagged droplets the inventory does not know" },
    delete: { type: "boolean", description: "with --reconcile: delete them" },
  },
  env: [
    "DROPSHIP_CONFIG",
    "DIGITALOCEAN_TOKEN",
    "DIGITALOCEAN_API_URL",
    "REDIS_URL",
    "DROPSHIP_SSH_KEY",
    "DROPSHIP_KNOWN_HOSTS",
    "DROPSHIP_WORK",
    "SMTP_URL",
    "ALERT_EMAIL_TO",
  ],
} satisfies VerbSpec;

await runVerb(SPEC, async ({ values }) => {
  const sizing = [values.count !== undefined, values.to !== undefined, values.down === true];
  if (values.reconcile) {
    if (sizing.some(Boolean) || values["dry-run"])
      throw new ArgumentError("--reconcile takes --delete only");
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
      values.delete === true,
    );
    if (orphans.length === 0) console.log("no orphans: every tagged droplet is in the inventory");
    return;
  }
  if (values.delete) throw new ArgumentError("--delete goes with --reconcile");
  if (sizing.filter(Boolean).length > 1) throw new ArgumentError("one of --count, --to, --down");
  const dryRun = values["dry-run"] === true;
  const { config } = loadRequiredConfig((line) => console.error(line));
  const repo = inventoryRepoFor(config);
  const inventory = await repo.read();
  const now = inventory.hosts.filter((h) => h.role === "production").length;
  const target = targetOf(values, now);
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
  if (dryRun) return;
  if (target === now)
    return console.log(`nothing to change: production has ${counted(now, "host")}`);

  const redis = await cliRedis();
  try {
    // scaleDeps checks the key pair, as for the autoscaler
    const deps = scaleDeps(config, localPaths(config), redis, repo, (line) => console.log(line));
    for (let hosts = now; hosts < target; hosts++)
      await scaleOut(deps, `by hand (${hosts} → ${hosts + 1})`);
    for (let hosts = now; hosts > target; hosts--)
      await scaleIn(deps, `by hand (${hosts} → ${hosts - 1})`);
  } finally {
    redis.disconnect();
  }
});

function targetOf(values: ParsedArgs["values"], now: number): number {
  if (values.down) return now - 1;
  const text = (values.count ?? values.to) as string | undefined;
  if (text === undefined) return now + 1;
  if (!/^\d+$/.test(text))
    throw new ArgumentError(
      `${values.count !== undefined ? "--count" : "--to"} ${text} is not a whole number`,
    );
  if (values.count !== undefined && Number(text) === 0)
    throw new ArgumentError("--count 0 adds nothing — give 1 or more, or --down to remove one");
  return values.count !== undefined ? now + Number(text) : Number(text);
}
