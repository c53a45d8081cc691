/**
 * The team's own settings for its app (`bun run env`): environment variables every app host's
 * dropship-app starts with, beside dropship's own (its address, Redis, its track). Production
 * and the canary get the same ones: the canary is production's next release, on its data.
 * Plain data and plain functions; scripts/env.ts keeps them and pipeline/app-env.ts puts them
 * on the hosts.
 */
export type AppSettings = Record<string, string>;

/** How the settings reach Ansible (JSON), which writes them into a new app host's app.env. */
export const APP_SETTINGS_VARIABLE = "DROPSHIP_APP_SETTINGS";

const NAME = /^[A-Z_][A-Z0-9_]*$/;
const MOST_NAME = 128;
const MOST_VALUE = 8 * 1024;
/** Heroku's limit for all of an app's config vars together. */
const MOST_TOTAL = 32 * 1024;
/** dropship's own, and what would change how the runtime or the loader runs the binary. */
const RESERVED = new Set(["PORT", "HOST", "REDIS_URL", "PATH", "HOME", "USER", "SHELL"]);
const RESERVED_PREFIXES = ["DROPSHIP_", "BUN_", "LD_"];

/** Whether a name is dropship's own on a host (kept when the team's settings are replaced). */
export function isReservedName(name: string): boolean {
  return RESERVED.has(name) || RESERVED_PREFIXES.some((prefix) => name.startsWith(prefix));
}

/** What is wrong with a setting's name, or undefined. */
export function nameFault(name: string): string | undefined {
  if (!NAME.test(name) || name.length > MOST_NAME)
    return `${JSON.stringify(name)} is not a setting's name — capital letters, digits and _, not starting with a digit, at most ${MOST_NAME}`;
  if (isReservedName(name))
    return `${name} is dropship's own (PORT, HOST, REDIS_URL, PATH, HOME, USER, SHELL, DROPSHIP_*, BUN_*, LD_*) — pick another name`;
  return undefined;
}

/** What is wrong with a setting's value, or undefined. */
export function valueFault(name: string, value: string): string | undefined {
  // the hosts read app.env single-quoted, both as systemd's EnvironmentFile and with sh's `.`
  if (/['\\\n\r\0]/.test(value))
    return `the value of ${name} holds a quote ('), a backslash or a line break, which the hosts' settings files cannot carry — encode it (base64, say) and decode it in the app`;
  if (value.length > MOST_VALUE)
    return `the value of ${name} is ${value.length} characters; at most ${MOST_VALUE}`;
  return undefined;
}

/** `NAME=value` arguments as settings, or every fault in them. */
export function parseAssignments(args: string[]): { settings: AppSettings } | { faults: string[] } {
  const settings: AppSettings = {};
  const faults: string[] = [];
  for (const arg of args) {
    const at = arg.indexOf("=");
    if (at <= 0) {
      faults.push(`${JSON.stringify(arg)} is not NAME=value`);
      continue;
    }
    const name = arg.slice(0, at);
    const value = arg.slice(at + 1);
    const fault = nameFault(name) ?? valueFault(name, value);
    if (fault) faults.push(fault);
    else settings[name] = value;
  }
  return faults.length > 0 ? { faults } : { settings };
}

/** What is wrong with a whole set (read from a file someone edited, or grown too big), or []. */
export function settingsFaults(settings: AppSettings): string[] {
  const faults = Object.entries(settings).flatMap(([name, value]) => {
    const fault = nameFault(name) ?? valueFault(name, value);
    return fault ? [fault] : [];
  });
  const total = Object.entries(settings).reduce((sum, [n, v]) => sum + n.length + v.length + 1, 0);
  if (total > MOST_TOTAL)
    faults.push(`the settings come to ${total} characters; at most ${MOST_TOTAL} in all`);
  return faults;
}

/** `NAME=value` lines, sorted, each value quoted as Ansible's `quote` does (sh's, and systemd's). */
export function settingsLines(settings: AppSettings): string[] {
  return Object.keys(settings)
    .sort()
    .map((name) => `${name}=${ansibleQuote(settings[name] as string)}`);
}

/** Python's shlex.quote, which Ansible's `quote` filter is: bare when nothing needs quoting. */
function ansibleQuote(value: string): string {
  if (value === "") return "''";
  if (!/[^\w@%+=:,./-]/.test(value)) return value;
  return `'${value.replaceAll("'", `'"'"'`)}'`;
}

/** The last line of every settings file Ansible writes (roles/dropship_service/templates/env.j2). */
const LOG_TIME = "DROPSHIP_LOG_TIME";

/**
 * A host's app.env (as `parseEnvFile` reads it) with the team's settings replaced by
 * `settings`, written byte for byte as Ansible's template writes it, so that the next converge
 * finds nothing to change and restarts nothing: dropship's own settings stay, every other goes.
 */
export function hostAppEnv(hostSettings: AppSettings, settings: AppSettings): string {
  const own = Object.fromEntries(
    Object.entries(hostSettings).filter(([name]) => isReservedName(name) && name !== LOG_TIME),
  );
  return [
    "# Written by Ansible (dropship_service); settings for dropship-app.",
    ...settingsLines({ ...settings, ...own }),
    "# every line logged starts with its time, which `bun run logs --since` reads",
    `${LOG_TIME}=1`,
    "",
  ].join("\n");
}

/** The names set, changed and removed from `before` to `after` ("set A, B; removed C"), or "". */
export function describeChange(before: AppSettings, after: AppSettings): string {
  const added = Object.keys(after).filter((n) => !(n in before));
  const changed = Object.keys(after).filter((n) => n in before && before[n] !== after[n]);
  const removed = Object.keys(before).filter((n) => !(n in after));
  return [
    added.length ? `added ${added.sort().join(", ")}` : "",
    changed.length ? `changed ${changed.sort().join(", ")}` : "",
    removed.length ? `removed ${removed.sort().join(", ")}` : "",
  ]
    .filter(Boolean)
    .join("; ");
}
