import { locateConfig } from "../shared/config/find.ts";
import type { Config } from "../shared/config/schema.ts";

export type MonitorSettings = Pick<Config, "monitor"> & {
  canary: Pick<Config["canary"], "after_alert">;
};

/**
 * The config's defaults for what the monitor reads, written out so that a monitor started
 * without DROPSHIP_CONFIG never loads the schema library (about 11 MB of memory on a small
 * droplet). A test keeps them equal to the schema's.
 */
export const MONITOR_DEFAULTS: MonitorSettings = {
  monitor: {
    interval: 5000,
    cpu: 50,
    memory: 50,
    for: 30_000,
    hysteresis: 5,
    repeat: 4 * 3_600_000,
    no_data: 30_000,
    mail_gap: 60_000,
    roles: {},
  },
  canary: { after_alert: "stay_off" },
};

/**
 * The deployment config found the way every command finds it (DROPSHIP_CONFIG, else
 * dropship.yml in the working directory), else the defaults above. Says which.
 */
export async function monitorSettings(
  say: (line: string) => void,
  env: Record<string, string | undefined> = process.env,
  cwd = process.cwd(),
): Promise<MonitorSettings> {
  const { file, said } = locateConfig(env, cwd);
  say(said);
  if (!file) return MONITOR_DEFAULTS;
  const { loadConfig } = await import("../shared/config/load.ts");
  return loadConfig(file);
}
