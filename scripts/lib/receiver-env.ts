import { resolve } from "node:path";
import { loadConfig } from "../../server/shared/config/load.ts";
import type { Config } from "../../server/shared/config/schema.ts";
import { validateConfig } from "../../server/shared/config/validate.ts";
import { UsageError } from "./cli.ts";

/** What deploy and rollback need, from the same variables the receiver reads. */
export function receiverSettings(env: Record<string, string | undefined> = process.env) {
  const inventory = env.DROPSHIP_INVENTORY;
  if (!inventory)
    throw new UsageError(
      "DROPSHIP_INVENTORY is not set — name the inventory of the hosts to deploy to",
    );
  let config: Config;
  if (env.DROPSHIP_CONFIG) {
    config = loadConfig(env.DROPSHIP_CONFIG);
  } else {
    const defaults = validateConfig({});
    if (!defaults.ok) throw new Error(defaults.errors.join("; "));
    config = defaults.config;
  }
  return {
    config,
    inventoryFile: resolve(inventory),
    redisUrl: env.REDIS_URL || undefined,
    workDir: resolve(env.DROPSHIP_WORK ?? ".dropship/work"),
    repo: resolve(env.DROPSHIP_REPOS ?? ".dropship/repos", `${env.DROPSHIP_REPO ?? "app"}.git`),
  };
}
