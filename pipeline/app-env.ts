import { type AppSettings, hostAppEnv } from "../server/shared/app-settings.ts";
import { parseEnvFile } from "../server/shared/config/env-file.ts";
import { exitingOf, waitForVersion } from "../server/shared/deliver.ts";
import { APP_ENV_ON_HOST, hostCommands } from "../server/shared/host/layout.ts";
import { type AccountKey, type Ssh, targetOf, withSsh } from "../server/shared/ssh.ts";
import type { FleetHost } from "./fleet.ts";

export interface HostRestarts extends AccountKey {
  /** the app hosts, in the order they are restarted */
  hosts: FleetHost[];
  healthUrl: (host: FleetHost) => string;
  healthTimeoutMs: number;
  /** takes a host out of the proxy's rotation (true) or puts it back (false) */
  drain: (host: FleetHost, draining: boolean) => Promise<void>;
  /** time for in-flight requests to finish once a host is drained */
  drainGraceMs: number;
  say: (line: string) => void;
}

export interface AppSettingsRollout extends HostRestarts {
  settings: AppSettings;
}

/**
 * Gives every app host the team's settings, one host at a time as a deploy does: drained at
 * the proxy, its app.env rewritten, the app restarted on the release it runs and healthy, back
 * into rotation. A host that already has them is left alone. When one does not come up, it and
 * every host changed before it get their old settings back (restarted, healthy, in rotation)
 * and the error says so. Answers the hosts that were restarted.
 */
export async function rollOutAppSettings(options: AppSettingsRollout): Promise<string[]> {
  const changed: { host: FleetHost; before: string }[] = [];
  for (const host of options.hosts) {
    await withSsh(targetOf(host, options), async (ssh) => {
      const before = await ssh.check(`cat ${APP_ENV_ON_HOST}`).catch((error: Error) => {
        throw new Error(
          `${host.name} has no ${APP_ENV_ON_HOST} (${error.message.trim()}) — converge it first: bun run setup`,
        );
      });
      const after = hostAppEnv(parseEnvFile(before), options.settings);
      if (after === before) {
        options.say(`  ${host.name}: has them already`);
        return;
      }
      const started = performance.now();
      try {
        const release = await restartWith(ssh, host, after, options);
        changed.push({ host, before });
        options.say(
          release
            ? `  ${host.name}: restarted with them, healthy on ${release} (${((performance.now() - started) / 1000).toFixed(1)} s)`
            : `  ${host.name}: has them; no release yet, so its first delivery starts the app with them`,
        );
      } catch (error) {
        options.say(`✗ ${host.name}: ${(error as Error).message}`);
        const back = [{ host, before }, ...changed.reverse()];
        const restored: string[] = [];
        const stuck: string[] = [];
        for (const { host: other, before: old } of back)
          await withSsh(targetOf(other, options), (again) =>
            restartWith(again, other, old, options),
          ).then(
            () => {
              restored.push(other.name);
              options.say(`↺ ${other.name}: back on its old settings`);
            },
            (fault: Error) => {
              stuck.push(other.name);
              options.say(
                `✗ ${other.name}: putting its old settings back failed too: ${fault.message} — look at it by hand`,
              );
            },
          );
        throw new Error(
          [
            `${host.name} did not come up with the new settings (${(error as Error).message})`,
            ...(restored.length > 0
              ? [
                  `${restored.join(", ")} ${restored.length === 1 ? "has its" : "have their"} old ones again`,
                ]
              : []),
            ...(stuck.length > 0
              ? [
                  `${stuck.join(", ")} could not be put back and ${stuck.length === 1 ? "is" : "are"} out of the rotation — look at ${stuck.length === 1 ? "it" : "them"} by hand`,
                ]
              : []),
          ].join("; "),
        );
      }
    });
  }
  return changed.map((c) => c.host.name);
}

/**
 * Restarts the app on every host, one at a time as a deploy does: drained at the proxy,
 * restarted on the release it runs with the settings it has, healthy, back into rotation (what
 * Heroku's `ps:restart` and Kamal's `app boot` do). Stops at a host that does not come up,
 * which stays out of the rotation; those before it serve again. Answers the hosts restarted.
 */
export async function restartApps(options: HostRestarts): Promise<string[]> {
  const restarted: string[] = [];
  for (const host of options.hosts) {
    const started = performance.now();
    const release = await withSsh(targetOf(host, options), (ssh) =>
      restartWith(ssh, host, undefined, options),
    ).catch((error: Error) => {
      throw new Error(
        `${host.name} did not come up after its restart (${error.message}); it is out of the rotation${restarted.length ? `, ${restarted.join(", ")} restarted and serving` : ""} — read its log: bun run logs ${host.name}`,
      );
    });
    if (!release) {
      options.say(`  ${host.name}: no release yet, nothing to restart`);
      continue;
    }
    options.say(
      `  ${host.name}: restarted, healthy on ${release} (${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );
    restarted.push(host.name);
  }
  return restarted;
}

/**
 * Drains the host, puts `text` (when given) in place as its app.env, restarts the app on the
 * release it runs and waits for its health, then puts it back into rotation. A host with no
 * release yet only gets the file: its first delivery starts the app. Answers the release.
 */
async function restartWith(
  ssh: Ssh,
  host: FleetHost,
  text: string | undefined,
  options: HostRestarts,
): Promise<string | undefined> {
  const release = (await ssh.exec(hostCommands.currentRelease())).stdout.trim() || undefined;
  if (release) {
    await options.drain(host, true);
    await Bun.sleep(options.drainGraceMs);
  }
  if (text !== undefined) {
    // root's alone (umask 077 in write), as Ansible leaves it; renamed over the old one whole
    await ssh.write(text, `${APP_ENV_ON_HOST}.next`);
    await ssh.check(
      `chown root:root ${APP_ENV_ON_HOST}.next && mv -f ${APP_ENV_ON_HOST}.next ${APP_ENV_ON_HOST}`,
    );
  }
  if (!release) return undefined;
  await ssh.check(hostCommands.service("restart", "app"));
  await waitForVersion(
    host.address,
    options.healthUrl(host),
    release,
    options.healthTimeoutMs,
    exitingOf(ssh, ["app"]),
  );
  await options.drain(host, false);
  return release;
}
