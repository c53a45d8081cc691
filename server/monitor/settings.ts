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
    disk: 90,
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
 * How a droplet's monitor gets the deployment's settings: the control host, which validated
 * the config at the door, hands the monitor's part over as JSON in this variable (through the
 * playbooks), so the monitor never loads the schema library on a droplet.
 */
export const SETTINGS_VARIABLE = "DROPSHIP_MONITOR_SETTINGS";

export function monitorSettingsOf(config: Pick<Config, "monitor" | "canary">): MonitorSettings {
  return { monitor: config.monitor, canary: { after_alert: config.canary.after_alert } };
}

/** The settings handed over in SETTINGS_VARIABLE; an error names what is wrong with them. */
export function settingsFromJson(text: string): MonitorSettings {
  let value: MonitorSettings;
  try {
    value = JSON.parse(text) as MonitorSettings;
  } catch {
    throw new Error(
      `${SETTINGS_VARIABLE} is not JSON — run the playbooks again from the control host`,
    );
  }
  const m = value?.monitor;
  const numbers = [
    "interval",
    "cpu",
    "memory",
    "for",
    "hysteresis",
    "repeat",
    "no_data",
    "mail_gap",
  ] as const;
  const wrong = numbers.filter((key) => typeof m?.[key] !== "number");
  if (
    wrong.length > 0 ||
    typeof m.roles !== "object" ||
    typeof value.canary?.after_alert !== "string"
  )
    throw new Error(
      `${SETTINGS_VARIABLE} lacks ${wrong.length > 0 ? `monitor.${wrong.join(", monitor.")}` : "monitor.roles or canary.after_alert"} — run the playbooks again from the control host`,
    );
  // a control host from before the disk alert hands over no threshold for it
  return { ...value, monitor: { ...value.monitor, disk: m.disk ?? MONITOR_DEFAULTS.monitor.disk } };
}

/**
 * The settings handed over by the control host (SETTINGS_VARIABLE), else the deployment config
 * found the way every command finds it (DROPSHIP_CONFIG, else dropship.yml in the working
 * directory), else the defaults above. Says which.
 */
export async function monitorSettings(
  say: (line: string) => void,
  env: Record<string, string | undefined> = process.env,
  cwd = process.cwd(),
): Promise<MonitorSettings> {
  const handed = env[SETTINGS_VARIABLE];
  if (handed) {
    say(`config: the deployment's, from the control host (${SETTINGS_VARIABLE})`);
    return settingsFromJson(handed);
  }
  const { file, said } = locateConfig(env, cwd);
  say(said);
  if (!file) return MONITOR_DEFAULTS;
  const { loadConfig } = await import("../shared/config/load.ts");
  return loadConfig(file);
}
