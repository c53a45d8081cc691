import { rollOutAppSettings } from "../pipeline/app-env.ts";
import { refuseWhileFrozen } from "../pipeline/freeze.ts";
import {
  type AppSettings,
  describeChange,
  nameFault,
  parseAssignments,
  settingsFaults,
  settingsLines,
} from "../server/shared/app-settings.ts";
import {
  appSettingsFile,
  readAppSettings,
  writeAppSettings,
} from "../server/shared/config/env-file.ts";
import { eachAppRole } from "./lib/app-hosts.ts";
import { ArgumentError, FLEET_ENV, runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { settingsWithHostsIfAny } from "./lib/receiver-env.ts";

const SPEC = {
  verb: "env",
  usage: ["env", "env get NAME", "env set NAME=value [NAME=value …]", "env unset NAME [NAME …]"],
  about: `The app's own settings: environment variables every production and staging host's
dropship-app starts with, beside dropship's own (PORT, HOST, REDIS_URL, DROPSHIP_TRACK), as
Heroku's config vars. Kept on this machine in .dropship/app.env beside the config (untracked,
0600) and given to every app host Ansible sets up. set and unset change them and restart the
app hosts with them one at a time, as a deploy does: drained at the proxy, restarted on the
release they run, healthy, back in rotation; a host that does not come up puts every host
back on the old settings. Without a command: the names, not the values; get prints one.`,
  env: [...FLEET_ENV, "REDIS_URL", "DROPSHIP_ACTOR"],
  positionals: 64,
} satisfies VerbSpec;

const APP_ROLES = ["production", "staging"] as const;

await runVerb(SPEC, async ({ positionals: [command, ...args] }) => {
  const file = appSettingsFile();
  const current = readAppSettings(file);
  if (command === undefined || command === "list") return list(current, file);
  if (command === "get") return get(current, args);
  if (command === "set") {
    const parsed = parseAssignments(args);
    if ("faults" in parsed) throw new ArgumentError(parsed.faults.join("\n"));
    if (args.length === 0) throw new ArgumentError("say NAME=value for each setting");
    return change(file, current, { ...current, ...parsed.settings });
  }
  if (command === "unset") {
    if (args.length === 0) throw new ArgumentError("say the names to unset");
    const unknown = args.filter((name) => !(name in current));
    if (unknown.length > 0)
      throw new ArgumentError(
        `${unknown.join(", ")} ${unknown.length === 1 ? "is" : "are"} not set (bun run env lists what is)`,
      );
    return change(
      file,
      current,
      Object.fromEntries(Object.entries(current).filter(([name]) => !args.includes(name))),
    );
  }
  throw new ArgumentError(`unknown command ${command} — use get, set or unset`);
});

function list(settings: AppSettings, file: string) {
  const names = Object.keys(settings).sort();
  if (names.length === 0) {
    console.log(`no app settings yet (${file}) — bun run env set NAME=value`);
    return;
  }
  // any may be a secret, a URL's user part too (a Sentry DSN's key): no value is shown
  for (const name of names) console.log(`${name}  (set, ${settings[name]?.length} characters)`);
}

function get(settings: AppSettings, [name, ...more]: string[]) {
  if (!name || more.length > 0) throw new ArgumentError("say one name");
  const fault = nameFault(name);
  if (fault) throw new ArgumentError(fault);
  const value = settings[name];
  if (value === undefined) throw new UsageError(`${name} is not set (bun run env lists what is)`);
  console.log(value);
}

/** Keeps the new settings, then gives them to every app host; on a failure, keeps the old again. */
async function change(file: string, before: AppSettings, after: AppSettings) {
  const what = describeChange(before, after);
  const faults = settingsFaults(after);
  if (faults.length > 0) throw new ArgumentError(faults.join("\n"));
  const settings = settingsWithHostsIfAny();
  refuseWhileFrozen(settings.workDir);
  writeAppSettings(file, settingsLines(after));
  // unchanged here, the hosts are still checked: a run cut short left some with the old ones
  console.log(`app settings: ${what || "unchanged"} (${file})`);
  if (!settings.fleet) {
    console.log("no hosts yet: bun run setup gives them to the app hosts it makes");
    return;
  }
  const withHosts = { ...settings, fleet: settings.fleet };
  const rollOut = (to: AppSettings, audit?: { kind: string; target: string; what: string }) =>
    eachAppRole(withHosts, APP_ROLES, { verb: "env", ...(audit && { audit }) }, (options) =>
      rollOutAppSettings({ ...options, settings: to }),
    );
  const restarted = await rollOut(
    after,
    what ? { kind: "env", target: "app", what } : undefined,
  ).catch(async (error: Error) => {
    writeAppSettings(file, settingsLines(before));
    // the role that failed is back already; one done before it (production, when staging
    // failed) has the new settings: every host that differs from the old ones gets them back
    console.log("↺ the old settings again, on every host:");
    await rollOut(before).catch((again: Error) =>
      console.log(`✗ putting the old settings back on every host failed: ${again.message}`),
    );
    throw new UsageError(`${error.message}; ${file} keeps the old settings too`);
  });
  console.log(
    `✓ every app host has them${restarted.length ? ` (restarted: ${restarted.join(", ")})` : ", none needed a restart"}; a new app host gets them when it is set up`,
  );
}
