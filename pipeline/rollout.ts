import { existsSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import type { RoleName } from "../server/shared/config/schema.ts";
import {
  exitingOf,
  type FileReport,
  releaseFiles,
  stageRelease,
  switchRelease as switchStaged,
  waitForVersion,
} from "../server/shared/deliver.ts";
import { hostCommands } from "../server/shared/host/layout.ts";
import { changedServices, parseSources, SOURCES_FILE } from "../server/shared/platform.ts";
import type { Service } from "../server/shared/roles.ts";
import { type AccountKey, type Ssh, targetOf, withSsh } from "../server/shared/ssh.ts";
import type { HostRestarts } from "./app-env.ts";
import type { FleetHost } from "./fleet.ts";

export interface RolloutOptions extends AccountKey {
  hosts: FleetHost[];
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
 * Ships a release to a role's hosts: first put on every host at once, while all of them still
 * serve (a host that cannot take it fails the deploy with nothing switched); then one host at
 * a time: drain at the proxy, switch, restart, wait for /healthz to report the release, back
 * into rotation. When a host fails, it and every host already updated go back to the release
 * they ran before, and the error says so.
 */
export async function rollout(options: RolloutOptions): Promise<void> {
  const { say } = options;
  const staged = await timed(say, `staged on ${options.hosts.map((h) => h.name).join(", ")}`, () =>
    stageEverywhere(options),
  );
  const updated: { host: FleetHost; previous: string | undefined }[] = [];
  for (const host of options.hosts) {
    say(`▸ ${host.name} (${host.address})`);
    await withSsh(targetOf(host, options), async (ssh) => {
      let previous: string | undefined;
      try {
        previous = (await ssh.exec(hostCommands.currentRelease())).stdout.trim() || undefined;
        const restart = [...options.services, ...(await changedOn(ssh, options))];
        // the release it already runs, none of it sent again: health only, no restart
        const unchanged =
          previous === options.version &&
          (staged.get(host.name) ?? []).every((r) => r.mode === "skip");
        await timed(say, "drained", async () => {
          await options.drain(host, true);
          await Bun.sleep(options.drainGraceMs);
        });
        await timed(say, `switched, restarted, healthy on ${options.version}`, () =>
          switchStaged(
            ssh,
            options.version,
            {
              cacheDir: options.cacheDir,
              restart,
              healthUrl: `http://${host.address}:${options.healthPort}/healthz`,
              healthTimeoutMs: options.healthTimeoutMs,
            },
            unchanged,
          ),
        );
        // the releases that went live, in order: what `bun run rollback` goes back along
        await ssh.check(hostCommands.recordDeployed(options.version));
        await options.drain(host, false);
        updated.push({ host, previous });
      } catch (error) {
        say(`✗ ${host.name}: ${(error as Error).message}`);
        updated.push({ host, previous });
        await rollBack(updated.reverse(), options);
        await dropRelease(options.hosts, options);
        throw new Error(
          `${host.name} did not come up on ${options.version}; rolled ${updated.map((u) => u.host.name).join(", ")} back to ${updated.map((u) => u.previous ?? "nothing").join(", ")}`,
        );
      }
    });
  }
}

/** The release put on every host at once, each host's files said; any failure drops it from all. */
async function stageEverywhere(options: RolloutOptions): Promise<Map<string, FileReport[]>> {
  const release = { version: options.version, binaries: options.binaries };
  const results = await Promise.allSettled(
    options.hosts.map((host) =>
      withSsh(targetOf(host, options), (ssh) =>
        stageRelease(ssh, release, { cacheDir: options.cacheDir }),
      ),
    ),
  );
  const staged = new Map<string, FileReport[]>();
  const failed: string[] = [];
  results.forEach((result, i) => {
    const host = options.hosts[i] as FleetHost;
    if (result.status === "fulfilled") {
      staged.set(host.name, result.value);
      const sent = result.value.reduce((sum, r) => sum + r.bytesSent, 0);
      options.say(
        `  ${host.name}: shipped ${(sent / 1024).toFixed(0)} KiB (${result.value.map((r) => `${r.name} ${r.mode}`).join(", ")})`,
      );
    } else {
      const message = (result.reason as Error).message;
      options.say(`✗ ${host.name}: ${message}`);
      failed.push(`${host.name} (${message})`);
    }
  });
  if (failed.length > 0) {
    await dropRelease(options.hosts, options);
    throw new Error(
      `${options.version} could not be put on ${failed.join(", ")}; no host was switched`,
    );
  }
  return staged;
}

/** Which of `alsoWhenChanged` run other code on the host than in the release. */
async function changedOn(ssh: Ssh, options: RolloutOptions): Promise<Service[]> {
  const file = options.binaries.find((b) => basename(b) === SOURCES_FILE);
  if (!file || !options.alsoWhenChanged?.length) return [];
  const running = parseSources((await ssh.exec(hostCommands.readSources())).stdout);
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
    await withSsh(targetOf(host, options), async (ssh) => {
      const services = [...options.services, ...(options.alsoWhenChanged ?? [])];
      // a host that came up on the release serves again: out of the rotation before its
      // restart, as in the rollout (the one that failed is out already); a drain that fails
      // must not keep the host on the release that failed
      await options.drain(host, true).then(
        () => Bun.sleep(options.drainGraceMs),
        () => undefined,
      );
      if (previous) {
        await ssh.check(
          [
            hostCommands.switchTo(previous),
            ...services.map((s) => hostCommands.service("restart", s)),
          ].join(" && "),
        );
        // back in rotation only once it answers again, as after a deploy
        await waitForVersion(
          host.address,
          `http://${host.address}:${options.healthPort}/healthz`,
          previous,
          options.healthTimeoutMs,
          exitingOf(ssh, services),
        );
        options.say(`↺ ${host.name}: back on ${previous}`);
      } else {
        await ssh.check(options.services.map((s) => hostCommands.service("stop", s)).join(" && "));
        options.say(`↺ ${host.name}: had no release before; its services are stopped`);
      }
      await options.drain(host, false);
    }).catch((error) =>
      options.say(
        `✗ ${host.name}: rollback failed too: ${(error as Error).message} — look at it by hand`,
      ),
    );
  }
}

/** The releases on a host, the one `current` points at, and those that went live, oldest first. */
export async function releasesOn(
  ssh: Ssh,
): Promise<{ current: string | undefined; all: string[]; live: string[] }> {
  const lines = async (command: string) =>
    (await ssh.exec(command)).stdout.trim().split("\n").filter(Boolean);
  const [current] = await lines(hostCommands.currentRelease());
  const all = await lines(hostCommands.listReleases());
  const live = await lines(hostCommands.listDeployed());
  return { current, all, live };
}

/** A release that never came up is removed from the hosts it reached, so nothing goes back to it. */
async function dropRelease(hosts: FleetHost[], options: RolloutOptions) {
  for (const host of hosts) {
    // one that cannot be reached keeps the files; nothing points at them, and prune takes them
    await withSsh(targetOf(host, options), (ssh) =>
      ssh.exec(hostCommands.dropReleaseUnlessCurrent(options.version)),
    ).catch(() => undefined);
  }
}

/** Where the control host keeps each release's binaries, to give one to a host without it. */
export interface KeptReleases {
  role: RoleName;
  dir: (version: string) => string;
  cacheDir: string;
}

interface HostReleases {
  host: FleetHost;
  current: string | undefined;
  all: string[];
  live: string[];
}

/**
 * The release a role goes back to: the last one that went live on a host before the one it
 * runs (the first host that has one: a host added since by a scale-out or a heal has only the
 * release it was given).
 */
export function rollbackGoal(found: readonly Omit<HostReleases, "host">[]): string | undefined {
  for (const { current, all, live } of found) {
    const goal = [...live].reverse().find((r) => r !== current && all.includes(r));
    if (goal) return goal;
  }
  return undefined;
}

/**
 * Puts every host of a role back on one release (`release`, or `rollbackGoal`'s), one host at
 * a time as a deploy does: drained at the proxy, switched to it, restarted, healthy, back in
 * rotation. First every host is asked what it has, and a host without the release (added
 * since by a scale-out or a heal) is given it from `kept`; when one cannot be reached or
 * given it, nothing is changed. A host already on it is left alone. Says each host as
 * `↺ NAME: FROM → TO`, and answers the release.
 */
export async function rollBackRole(
  options: HostRestarts & { services: string[]; release?: string; kept?: KeptReleases },
): Promise<string | undefined> {
  const found: HostReleases[] = [];
  const unreachable: string[] = [];
  for (const host of options.hosts) {
    try {
      found.push({ host, ...(await withSsh(targetOf(host, options), releasesOn)) });
    } catch (error) {
      unreachable.push(`${host.name} (${(error as Error).message})`);
    }
  }
  if (unreachable.length > 0)
    throw new Error(
      `cannot reach ${unreachable.join(", ")} — no host was changed, so the role is not left split between two releases; self-healing replaces a dead droplet within a minute or two (bun run status shows it), then run the rollback again`,
    );
  const goal = options.release ?? rollbackGoal(found);
  if (!goal) {
    const [first] = found;
    throw new Error(
      found.length === 1 && first
        ? `${first.host.name} has no release before ${first.current ?? "its current one"} to go back to`
        : `no host has a release before the one it runs to go back to (${found.map((f) => `${f.host.name}: ${f.current ?? "nothing"}`).join(", ")})`,
    );
  }
  // before any host is touched: a rollback that stops halfway leaves the role split
  for (const { host, all } of found) {
    if (all.includes(goal)) continue;
    const dir = options.kept?.dir(goal);
    if (!options.kept || !dir || !existsSync(dir))
      throw new Error(
        `${host.name} does not have release ${goal} (it has ${all.join(", ") || "none"}), and this control host does not keep it either — no host was changed`,
      );
    const kept = options.kept;
    await withSsh(targetOf(host, options), (ssh) =>
      stageRelease(
        ssh,
        { version: goal, binaries: releaseFiles(dir, kept.role) },
        { cacheDir: kept.cacheDir },
      ),
    );
    options.say(`  ${host.name}: given ${goal}, which it did not have (it came after ${goal} ran)`);
  }
  for (const { host, current } of found) {
    if (current === goal) {
      options.say(`↺ ${host.name}: on ${goal} already`);
      continue;
    }
    await withSsh(targetOf(host, options), async (ssh) => {
      await options.drain(host, true);
      await Bun.sleep(options.drainGraceMs);
      await ssh.check(
        [
          hostCommands.switchToExisting(goal),
          ...options.services.map((s) => hostCommands.service("restart", s)),
        ].join(" && "),
      );
      await waitForVersion(
        ssh.target.host,
        options.healthUrl(host),
        goal,
        options.healthTimeoutMs,
        exitingOf(ssh, options.services),
      ).catch((error: Error) => {
        throw new Error(
          `${host.name} did not come up on ${goal} (${error.message}); it is out of the rotation — read its log: bun run logs ${host.name}`,
        );
      });
      await options.drain(host, false);
      options.say(`↺ ${host.name}: ${current ?? "nothing"} → ${goal}`);
    });
  }
  return goal;
}
