import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Config, RoleName } from "./config/schema.ts";
import { deliverRelease, exitingOf, releaseFiles, waitForVersion } from "./deliver.ts";
import { hostCommands } from "./host/layout.ts";
import { changedServices, parseSources, SOURCES_FILE } from "./platform.ts";
import { HANDED_OVER, PLATFORM, ROLES, type Service, serviceHealthUrl } from "./roles.ts";
import { type AccountKey, type Ssh, targetOf, withSsh } from "./ssh.ts";

export interface UpgradeHost {
  name: string;
  role: RoleName;
  address: string;
  hostPublicKey: string;
}

export interface UpgradeOptions extends AccountKey {
  hosts: UpgradeHost[];
  /** the release's name on the hosts (the commit, 12 characters) */
  version: string;
  /** a local folder with the release's binaries and its SOURCES file */
  releaseDir: string;
  config: Pick<Config, "ports" | "pipeline">;
  cacheDir: string;
  say: (line: string) => void;
}

/** The roles whose hosts run only the platform: their releases are the platform's. */
export const PLATFORM_ROLES: readonly RoleName[] = ["proxy", "redis"];

/**
 * Ships the platform's servers (proxy, monitor) of a release to the proxy and Redis hosts, one
 * host at a time, and only where their code changed: the proxy is handed over (the next one
 * listens before the last one stops), the monitor restarted. A host that does not come up on
 * the release goes back to the one it ran, and the upgrade stops there. Answers the hosts
 * upgraded.
 */
export async function upgradePlatform(options: UpgradeOptions): Promise<string[]> {
  const { say } = options;
  const sourcesFile = join(options.releaseDir, SOURCES_FILE);
  if (!existsSync(sourcesFile))
    throw new Error(
      `${options.releaseDir} has no ${SOURCES_FILE}: it was built before upgrades could tell what changed — build it again`,
    );
  const release = parseSources(readFileSync(sourcesFile, "utf8"));
  const upgraded: string[] = [];
  for (const host of options.hosts.filter((h) => PLATFORM_ROLES.includes(h.role))) {
    const services = ROLES[host.role].services.filter((s) => PLATFORM.includes(s));
    const done = await withSsh(targetOf(host, options), async (ssh) => {
      const running = parseSources((await ssh.exec(hostCommands.readSources())).stdout);
      const changed = changedServices(services, running, release);
      if (changed.length === 0) {
        say(`  ${host.name}: ${services.join(" and ")} unchanged`);
        return false;
      }
      const before = (await ssh.exec(hostCommands.currentRelease())).stdout.trim();
      const check = changed.includes("proxy") ? "proxy" : (changed[0] as Service);
      const healthUrl = serviceHealthUrl(options.config, check, host.address);
      const restart = changed.filter((s) => !HANDED_OVER.includes(s));
      const handover = changed.filter((s) => HANDED_OVER.includes(s));
      const started = performance.now();
      try {
        await deliverRelease(
          ssh,
          // platform roles run only platform services: the role's files are the platform's
          { version: options.version, binaries: releaseFiles(options.releaseDir, host.role) },
          {
            cacheDir: options.cacheDir,
            restart,
            handover,
            healthUrl,
            healthTimeoutMs: options.config.pipeline.health_timeout,
          },
        );
      } catch (error) {
        if (before && before !== options.version) {
          await goBack(ssh, before, restart, handover, healthUrl, options).catch((again) =>
            say(`✗ ${host.name}: going back failed too: ${(again as Error).message}`),
          );
        }
        throw new Error(
          `${host.name} did not come up on ${options.version} (${(error as Error).message}); it runs ${before || "nothing"} again, and no later host was touched`,
        );
      }
      const how = [
        ...handover.map((s) => `${s} handed over`),
        ...restart.map((s) => `${s} restarted`),
      ];
      say(
        `  ${host.name}: ${how.join(", ")} on ${options.version} (${((performance.now() - started) / 1000).toFixed(1)} s)`,
      );
      return true;
    });
    if (done) upgraded.push(host.name);
  }
  return upgraded;
}

async function goBack(
  ssh: Ssh,
  previous: string,
  restart: Service[],
  handover: Service[],
  healthUrl: string,
  options: UpgradeOptions,
) {
  const commands = [
    hostCommands.switchTo(previous),
    ...restart.map((s) => hostCommands.service("restart", s)),
    ...handover.map((s) => hostCommands.service("handover", s)),
  ];
  await ssh.check(commands.join(" && "));
  await waitForVersion(
    ssh.target.host,
    healthUrl,
    previous,
    options.config.pipeline.health_timeout,
    exitingOf(ssh, restart),
  );
  await ssh.exec(hostCommands.dropRelease(options.version));
}
