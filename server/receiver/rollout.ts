import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { deliverRelease, serviceCommand, waitForVersion } from "../shared/deliver.ts";
import { changedServices, parseSources, SOURCES_FILE } from "../shared/platform.ts";
import type { Service } from "../shared/roles.ts";
import { Ssh } from "../shared/ssh.ts";
import type { FleetHost } from "./fleet.ts";

export interface RolloutOptions {
  hosts: FleetHost[];
  privateKey: string;
  /** where the key was read from, named when a host refuses it */
  privateKeyFile?: string;
  version: string;
  binaries: string[];
  /** services restarted on each host; the first one's /healthz must report the version */
  services: string[];
  /** services restarted too where their code changed (the release's SOURCES says) */
  alsoWhenChanged?: Service[];
  healthPort: number;
  healthTimeoutMs: number;
  cacheDir: string;
  /** takes a host out of the proxy's rotation (true) or puts it back (false) */
  drain: (host: FleetHost, draining: boolean) => Promise<void>;
  /** time for in-flight requests to finish once a host is drained */
  drainGraceMs: number;
  say: (line: string) => void;
}

const timed = async <T>(
  say: (line: string) => void,
  label: string,
  work: () => Promise<T>,
): Promise<T> => {
  const started = performance.now();
  const result = await work();
  say(`  ${label} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  return result;
};

/**
 * Ships a release to a role's hosts one at a time: drain at the proxy, deliver, restart,
 * wait for /healthz to report the release, back into rotation. When a host fails, it and
 * every host already updated go back to the release they ran before, and the error says so.
 */
export async function rollout(options: RolloutOptions): Promise<void> {
  const { say } = options;
  const updated: { host: FleetHost; previous: string | undefined }[] = [];
  for (const host of options.hosts) {
    say(`▸ ${host.name} (${host.address})`);
    const ssh = await Ssh.connect({
      host: host.address,
      privateKey: options.privateKey,
      keyFile: options.privateKeyFile,
      hostPublicKey: host.hostPublicKey,
    });
    let previous: string | undefined;
    try {
      previous =
        (
          await ssh.exec('basename "$(readlink /srv/dropship/current)" 2>/dev/null')
        ).stdout.trim() || undefined;
      const restart = [...options.services, ...(await changedOn(ssh, options))];
      await timed(say, "drained", async () => {
        await options.drain(host, true);
        await Bun.sleep(options.drainGraceMs);
      });
      const reports = await timed(say, `delivered, restarted, healthy on ${options.version}`, () =>
        deliverRelease(
          ssh,
          { version: options.version, binaries: options.binaries },
          {
            cacheDir: options.cacheDir,
            restart,
            healthUrl: `http://${host.address}:${options.healthPort}/healthz`,
            healthTimeoutMs: options.healthTimeoutMs,
          },
        ),
      );
      const sent = reports.reduce((sum, r) => sum + r.bytesSent, 0);
      say(
        `  shipped ${(sent / 1024).toFixed(0)} KiB (${reports.map((r) => `${r.name} ${r.mode}`).join(", ")})`,
      );
      // the releases that went live, in order: what `bun run rollback` goes back along
      await ssh.check(`echo ${options.version} >> /srv/dropship/deployed`);
      await options.drain(host, false);
      updated.push({ host, previous });
    } catch (error) {
      say(`✗ ${host.name}: ${(error as Error).message}`);
      updated.push({ host, previous });
      await rollBack(updated.reverse(), options);
      await dropRelease(updated, options);
      throw new Error(
        `${host.name} did not come up on ${options.version}; rolled ${updated.map((u) => u.host.name).join(", ")} back to ${updated.map((u) => u.previous ?? "nothing").join(", ")}`,
      );
    } finally {
      ssh.close();
    }
  }
}

/** Which of `alsoWhenChanged` run other code on the host than in the release. */
async function changedOn(ssh: Ssh, options: RolloutOptions): Promise<Service[]> {
  const file = options.binaries.find((b) => basename(b) === SOURCES_FILE);
  if (!file || !options.alsoWhenChanged?.length) return [];
  const running = parseSources(
    (await ssh.exec(`cat /srv/dropship/current/${SOURCES_FILE} 2>/dev/null`)).stdout,
  );
  return changedServices(
    options.alsoWhenChanged,
    running,
    parseSources(readFileSync(file, "utf8")),
  );
}

async function rollBack(
  hosts: { host: FleetHost; previous: string | undefined }[],
  options: RolloutOptions,
) {
  for (const { host, previous } of hosts) {
    const ssh = await Ssh.connect({
      host: host.address,
      privateKey: options.privateKey,
      keyFile: options.privateKeyFile,
      hostPublicKey: host.hostPublicKey,
    });
    try {
      const restart = [...options.services, ...(options.alsoWhenChanged ?? [])]
        .map((s) => serviceCommand("restart", s))
        .join(" && ");
      if (previous) {
        await ssh.check(
          `cd /srv/dropship && ln -sfn releases/${previous} current.next && mv -T current.next current && ${restart}`,
        );
        // back in rotation only once it answers again, as after a deploy
        await waitForVersion(
          host.address,
          `http://${host.address}:${options.healthPort}/healthz`,
          previous,
          options.healthTimeoutMs,
        );
        options.say(`↺ ${host.name}: back on ${previous}`);
      } else {
        const stop = options.services.map((s) => serviceCommand("stop", s)).join(" && ");
        await ssh.check(stop);
        options.say(`↺ ${host.name}: had no release before; its services are stopped`);
      }
      await options.drain(host, false);
    } catch (error) {
      options.say(
        `✗ ${host.name}: rollback failed too: ${(error as Error).message} — look at it by hand`,
      );
    } finally {
      ssh.close();
    }
  }
}

/** The releases on a host, the one `current` points at, and those that went live, oldest first. */
export async function releasesOn(
  ssh: Ssh,
): Promise<{ current: string | undefined; all: string[]; live: string[] }> {
  const lines = async (command: string) =>
    (await ssh.exec(command)).stdout.trim().split("\n").filter(Boolean);
  const [current] = await lines('basename "$(readlink /srv/dropship/current)" 2>/dev/null');
  const all = await lines("ls -1t /srv/dropship/releases 2>/dev/null");
  const live = await lines("cat /srv/dropship/deployed 2>/dev/null");
  return { current, all, live };
}

/** A release that never came up is removed from the hosts it reached, so nothing goes back to it. */
async function dropRelease(hosts: { host: FleetHost }[], options: RolloutOptions) {
  for (const { host } of hosts) {
    const ssh = await Ssh.connect({
      host: host.address,
      privateKey: options.privateKey,
      keyFile: options.privateKeyFile,
      hostPublicKey: host.hostPublicKey,
    });
    try {
      await ssh.exec(
        `[ "$(basename "$(readlink /srv/dropship/current)")" = ${options.version} ] || rm -rf /srv/dropship/releases/${options.version}`,
      );
    } finally {
      ssh.close();
    }
  }
}

/** Points a host at a release already on it, restarts the services and waits until healthy. */
export async function switchRelease(
  ssh: Ssh,
  release: string,
  services: string[],
  healthUrl: string,
  healthTimeoutMs: number,
): Promise<void> {
  const restart = services.map((s) => serviceCommand("restart", s)).join(" && ");
  await ssh.check(
    `test -d /srv/dropship/releases/${release} && cd /srv/dropship && ln -sfn releases/${release} current.next && mv -T current.next current && ${restart}`,
  );
  await waitForVersion(ssh.target.host, healthUrl, release, healthTimeoutMs);
}
