import { dirname, join } from "node:path";
import { fleetSource } from "../../pipeline/fleet.ts";
import { loadLocatedConfig } from "../../server/shared/config/locate.ts";
import { localPaths } from "../../server/shared/config/paths.ts";
import { UsageError } from "./cli.ts";

/** What deploy and rollback need, from the same variables the receiver reads. */
export function receiverSettings(env: Record<string, string | undefined> = process.env) {
  const settings = settingsWithHostsIfAny(env);
  const { fleet, config } = settings;
  if (!fleet)
    throw new UsageError(
      `no hosts: the GitOps inventory (${config.gitops.repo}) is empty and DROPSHIP_INVENTORY is not set — bun run scale adds hosts`,
    );
  return { ...settings, fleet };
}

/** The same, where a deployment with no hosts yet is no fault (fleet undefined). */
export function settingsWithHostsIfAny(env: Record<string, string | undefined> = process.env) {
  const { config, located } = loadLocatedConfig((line) => console.error(line), env);
  const paths = localPaths(config, env);
  return {
    config,
    /** where pipeline/hooks run: beside the config */
    hookDir: located.file ? dirname(located.file) : process.cwd(),
    fleet: fleetSource(env, config, paths),
    redisUrl: env.REDIS_URL || undefined,
    workDir: paths.work,
    repo: join(paths.repos, `${env.DROPSHIP_REPO || "app"}.git`),
  };
}
