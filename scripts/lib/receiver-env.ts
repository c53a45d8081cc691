import { resolve } from "node:path";
import { loadConfigOrDefaults } from "../../server/shared/config/load.ts";
import { UsageError } from "./cli.ts";

/** What deploy and rollback need, from the same variables the receiver reads. */
export function receiverSettings(env: Record<string, string | undefined> = process.env) {
  const inventory = env.DROPSHIP_INVENTORY;
  if (!inventory)
    throw new UsageError(
      "DROPSHIP_INVENTORY is not set — name the inventory of the hosts to deploy to",
    );
  const config = loadConfigOrDefaults(env.DROPSHIP_CONFIG);
  return {
    config,
    inventoryFile: resolve(inventory),
    redisUrl: env.REDIS_URL || undefined,
    workDir: resolve(env.DROPSHIP_WORK ?? ".dropship/work"),
    repo: resolve(env.DROPSHIP_REPOS ?? ".dropship/repos", `${env.DROPSHIP_REPO ?? "app"}.git`),
  };
}
