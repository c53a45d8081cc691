import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inventoryYaml } from "../gitops/inventory.ts";
import { addHost, type FleetHostRecord, nextName, removeHost } from "../gitops/model.ts";
import type { InventoryRepo } from "../gitops/repo.ts";
import { monitorSettingsOf, SETTINGS_VARIABLE } from "../server/monitor/settings.ts";
import { runPlaybook } from "../server/shared/ansible.ts";
import { type DigitalOcean, providerFromEnv } from "../server/shared/cloud/digitalocean.ts";
import { createHosts, recordOf } from "../server/shared/cloud/provision.ts";
import { dropletSpecFor } from "../server/shared/cloud/spec.ts";
import {
  appSettingsFile,
  appSettingsVariable,
  fleetEnvFile,
} from "../server/shared/config/env-file.ts";
import type { LocalPaths } from "../server/shared/config/paths.ts";
import type { Config, RoleName } from "../server/shared/config/schema.ts";
import { releaseFiles, stageRelease, switchRelease } from "../server/shared/deliver.ts";
import { hostCommands, releaseVersion } from "../server/shared/host/layout.ts";
import type { Mail } from "../server/shared/mailer.ts";
import { healthUrlOf, ROLES } from "../server/shared/roles.ts";
import { backendIdFor } from "../server/shared/routing/model.ts";
import { targetOf, withSsh } from "../server/shared/ssh.ts";
import {
  aclFile,
  aclSetUser,
  appUser,
  monitorUser,
  redisUrls,
  usesAcl,
} from "../server/shared/state/acl.ts";
import { recordEvent } from "../server/shared/state/events.ts";
import { KEYS } from "../server/shared/state/keys.ts";
import { connectRedis, type RedisClient, whenReady } from "../server/shared/state/redis.ts";
import { redisMemoryEnv } from "../server/shared/state/redis-memory.ts";
import {
  forgetHost,
  listBackends,
  putBackend,
  removeBackend,
} from "../server/shared/state/routing.ts";
import { findPrimary } from "../server/shared/state/sentinel.ts";
import {
  currentSentinels,
  sentinelPlaybookEnv,
  withCurrentSentinels,
} from "../server/shared/state/sentinel-fleet.ts";
import { isSentinelUrl } from "../server/shared/state/sentinel-url.ts";
import { reasonOnly } from "../server/shared/text/words.ts";
import { lastShipped, releaseDir } from "./deploy.ts";
import { withRoleLock } from "./lock.ts";
import { scaleMail } from "./scale-mail.ts";

export interface ScaleDeps {
  config: Config;
  provider: DigitalOcean;
  repo: InventoryRepo;
  redis: RedisClient;
  /** the account key dropship logs in with */
  privateKeyFile: string;
  privateKey: string;
  publicKey: string;
  knownHostsFile: string;
  workDir: string;
  /** secrets for the playbook (REDIS_URL …), from the environment */
  playbookEnv: Record<string, string>;
  say: (line: string) => void;
  /** hands a notice to the mailer (SMTP_URL); none: notices are only said */
  notify?: (mail: Mail) => void;
  /** the dropship.yml read, copied to a new proxy host for its own settings */
  configFile?: string;
  /** DROPSHIP_USERS_FILE: the named users, given to a new proxy host */
  usersFile?: string;
  /** the control machine's .dropship/fleet.env (bun run setup), kept naming live Sentinels */
  fleetEnv?: string;
  /** the control machine's .dropship/app.env (bun run env): the app's settings, for a new app host */
  appSettings?: string;
}

const ACTOR = "dropship scale";

/**
 * Everything scaling needs, built the same way for the receiver's autoscaler and for
 * `bun run scale`: the provider and the key pair from the environment and the path settings.
 */
export function scaleDeps(
  config: Config,
  paths: LocalPaths,
  redis: RedisClient,
  repo: InventoryRepo,
  say: (line: string) => void,
  env: Record<string, string | undefined> = process.env,
  /** where the API client's notes (rate-limit waits) go; default `say` */
  apiSay: (line: string) => void = say,
): ScaleDeps {
  const keyFile = paths.sshKey;
  if (!existsSync(keyFile) || !existsSync(`${keyFile}.pub`))
    throw new Error(`no SSH key pair at ${keyFile}(.pub) — set DROPSHIP_SSH_KEY`);
  return {
    config,
    provider: providerFromEnv(env, apiSay),
    repo,
    redis,
    privateKeyFile: keyFile,
    privateKey: readFileSync(keyFile, "utf8"),
    publicKey: readFileSync(`${keyFile}.pub`, "utf8"),
    knownHostsFile: paths.knownHosts,
    workDir: paths.work,
    usersFile: paths.users,
    fleetEnv: fleetEnvFile(env),
    appSettings: appSettingsFile(env),
    playbookEnv: playbookEnvFrom(env),
    say,
  };
}

/** The settings a new host's playbook needs, taken from this process's environment. */
export function playbookEnvFrom(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    ["REDIS_URL", "SMTP_URL", "ALERT_EMAIL_TO", "DROPSHIP_ADMIN_TOKEN"].flatMap((name) =>
      env[name] ? [[name, env[name] as string]] : [],
    ),
  );
}

/**
 * Droplets carrying the deployment's tag that the inventory does not know: left by a crash
 * between create and commit, or made by hand. Reported, or deleted when `remove` is set.
 */
export async function reconcile(
  deps: Pick<ScaleDeps, "repo" | "provider" | "config" | "say">,
  remove: boolean,
): Promise<string[]> {
  const known = new Set((await deps.repo.read()).hosts.map((h) => h.dropletId));
  const orphans = (await deps.provider.listByTag(deps.config.digitalocean.tag)).filter(
    (d) => !known.has(d.id),
  );
  for (const orphan of orphans) {
    if (remove) {
      await deps.provider.deleteDroplet(orphan.id, orphan.name);
      deps.say(`✗ orphan ${orphan.name} (droplet ${orphan.id}) deleted`);
    } else {
      deps.say(
        `! orphan ${orphan.name} (droplet ${orphan.id}, ${orphan.ip ?? "no address"}) is tagged ${deps.config.digitalocean.tag} but not in the inventory — bun run scale --reconcile --delete removes it`,
      );
    }
  }
  return orphans.map((o) => o.name);
}

/**
 * Adds one production host: create (tagged, host key pinned), converge with product.yml,
 * deliver the release production runs, health-check, add to the proxy's rotation, commit the
 * inventory. A failure on the way deletes the droplet and leaves the inventory as it was.
 */
export function scaleOut(
  deps: ScaleDeps,
  reason: string,
  options: ScaleOutOptions = {},
): Promise<FleetHostRecord> {
  return withProductionLock(deps, `scale out (${reason})`, () =>
    addProductionHost(deps, reason, options.mailFailure ?? true),
  );
}

export interface ScaleOutOptions {
  /**
   * Whether a failure is mailed (default yes). The autoscaler mails the first failure of a
   * row only: the next ones say nothing new, and the breaker mails once when it stops.
   */
  mailFailure?: boolean;
}

/**
 * Removes the newest production host: out of rotation (draining first, so in-flight requests
 * finish), droplet deleted, inventory committed. Never below autoscale/min.
 */
export function scaleIn(deps: ScaleDeps, reason: string, drainMs = 2000): Promise<FleetHostRecord> {
  return withProductionLock(deps, `scale in (${reason})`, () =>
    removeProductionHost(deps, reason, drainMs),
  );
}

/** Scaling and deploys take turns: a deploy never misses a host that is being added. */
function withProductionLock<T>(deps: ScaleDeps, holder: string, work: () => Promise<T>) {
  return withRoleLock(
    join(deps.workDir, "locks"),
    "production",
    holder,
    deps.config.pipeline.lock_timeout,
    deps.say,
    work,
  );
}

/** The playbook that converges a host of each role. */
const PLAYBOOKS: Record<RoleName, Parameters<typeof runPlaybook>[0]> = {
  proxy: "proxy.yml",
  redis: "redis.yml",
  production: "product.yml",
  staging: "staging.yml",
};

/** A release to give a new host: its version and the directory of its binaries. */
export interface ReleaseToGive {
  version: string;
  dir: string;
}

/**
 * The release a new host of `role` gets: what the role runs (`preferred`, a replaced host's),
 * else the last one shipped to its track (proxies run production's build of the platform).
 */
export function releaseToGive(
  deps: Pick<ScaleDeps, "workDir">,
  role: RoleName,
  preferred?: string,
): ReleaseToGive {
  if (preferred && existsSync(releaseDir(deps.workDir, preferred)))
    return { version: preferred, dir: releaseDir(deps.workDir, preferred) };
  const shipped = lastShipped(deps.workDir, role === "staging" ? "staging" : "production");
  const version = shipped && releaseVersion(shipped);
  const dir = version ? releaseDir(deps.workDir, version) : undefined;
  if (!version || !dir || !existsSync(dir))
    throw new Error(
      `no ${role === "staging" ? "staging" : "production"} release to give a new host yet — push to ${role === "staging" ? "staging" : "master"} first`,
    );
  return { version, dir };
}

/**
 * One new host of a role: created (tagged, host key pinned), converged with the role's playbook,
 * given the release and healthy. Scale-out and self-healing both add hosts this way. A failure
 * on the way deletes the droplet (and the Redis user made for it) and throws. `replacing` names
 * a dead host the new one replaces: it is not asked for anything (its Redis server, its Sentinel),
 * which would cost a connect timeout each.
 */
export async function provisionHost(
  deps: ScaleDeps,
  role: RoleName,
  release: ReleaseToGive,
  replacing?: string,
): Promise<FleetHostRecord> {
  const { config, provider, say } = deps;
  await reconcile(deps, false);
  const key = await provider.ensureSshKey(`${config.name}-dropship`, deps.publicKey);
  const name = nextName(await deps.repo.read(), config.name, role);
  say(`▸ create ${name}`);
  const [host] = await createHosts(
    provider,
    [dropletSpecFor(config, role, name, key.id, "")].map(({ userData: _, ...spec }) => spec),
    120_000,
  );
  if (!host) throw new Error(`${name} was not created`);
  const address = host.droplet.ip as string;
  try {
    appendFileSync(deps.knownHostsFile, `${host.knownHost}\n`);
    const hostInventory = join(deps.workDir, `scale-${name}.yml`);
    writeFileSync(
      hostInventory,
      inventoryYaml([{ name, role, address, dropletId: host.droplet.id }], {
        privateKeyFile: deps.privateKeyFile,
        knownHostsFile: deps.knownHostsFile,
      }),
    );
    // the Sentinels there are now, not those of the setup-time URL (some may be replaced)
    const fleet = (await deps.repo.read()).hosts.filter((h) => h.name !== replacing);
    const controlUrl = deps.playbookEnv.REDIS_URL
      ? withCurrentSentinels(deps.playbookEnv.REDIS_URL, fleet)
      : undefined;
    const redisUsers = await addRedisUser(deps, name, role, controlUrl, replacing);
    const sentinelEnv = await sentinelEnvFor(deps, role, name, fleet);
    const pinned = { address, hostPublicKey: host.hostKey.publicKey };
    await withSsh(targetOf(pinned, deps), async (ssh) => {
      // the release's binaries travel while the playbook runs: nothing starts them before
      // `current` points at them, after both are done
      say(
        `▸ converge ${name} (${address}) with ${PLAYBOOKS[role]}, sending ${release.version} meanwhile`,
      );
      const [converged, staged] = await Promise.allSettled([
        runPlaybook(PLAYBOOKS[role], hostInventory, {
          ...deps.playbookEnv,
          ...(controlUrl ? { REDIS_URL: controlUrl } : {}),
          ...redisUsers,
          ...sentinelEnv,
          ...(role === "proxy" ? proxyPlaybookEnv(deps) : {}),
          ...(role === "production" || role === "staging"
            ? appSettingsVariable(deps.appSettings)
            : {}),
          [SETTINGS_VARIABLE]: JSON.stringify(monitorSettingsOf(config)),
        }),
        stageRelease(
          ssh,
          { version: release.version, binaries: releaseFiles(release.dir, role) },
          { cacheDir: join(deps.workDir, "cache", "releases") },
        ),
      ]);
      if (converged.status === "rejected") throw converged.reason;
      if (staged.status === "rejected") throw staged.reason;
      say(`▸ start ${release.version}`);
      await switchRelease(ssh, release.version, {
        cacheDir: join(deps.workDir, "cache", "releases"),
        // the playbook could not start them before their binaries arrived: start them all
        restart: ROLES[role].services,
        healthUrl: healthUrlOf(config, role, address),
        healthTimeoutMs: config.pipeline.health_timeout,
      });
      await ssh.check(hostCommands.recordDeployed(release.version));
    });
    return recordOf(host, role, release.version);
  } catch (error) {
    say(`✗ ${(error as Error).message} — undoing: deleting ${name}`);
    await removeRedisUser(deps, name, replacing);
    await provider.deleteDroplet(host.droplet.id, name);
    throw error;
  }
}

/** What a proxy host's playbook needs besides the Redis URLs: the admin token, config, users. */
function proxyPlaybookEnv(deps: ScaleDeps): Record<string, string> {
  return {
    DROPSHIP_ADMIN_ALLOW: deps.config.proxy.admin_allow.join(","),
    ...(deps.configFile ? { DROPSHIP_CONFIG_FILE: deps.configFile } : {}),
    ...(deps.usersFile && existsSync(deps.usersFile)
      ? { DROPSHIP_USERS: readFileSync(deps.usersFile, "utf8") }
      : {}),
  };
}

async function addProductionHost(
  deps: ScaleDeps,
  reason: string,
  mailFailure: boolean,
): Promise<FleetHostRecord> {
  const { config, repo, say } = deps;
  const inventory = await repo.read();
  const production = inventory.hosts.filter((h) => h.role === "production").length;
  if (production >= config.autoscale.max) {
    throw new Error(
      `refusing to add a host: production has ${production}, the cap (autoscale/max) is ${config.autoscale.max}`,
    );
  }
  let record: FleetHostRecord | undefined;
  try {
    record = await provisionHost(deps, "production", releaseToGive(deps, "production"));
    const url = appUrlOf(config, record);
    say(`▸ into rotation`);
    await putBackend(
      deps.redis,
      { id: backendIdFor(url), url, track: "production", draining: false },
      ACTOR,
    );
    const fleet = await repo.edit(
      (inventory) => addHost(inventory, record as FleetHostRecord),
      `scale out: ${reasonOnly(reason)} — added ${record.name} (${record.address}, droplet ${record.dropletId})`,
    );
    say(`✓ ${record.name} serves production`);
    await scalingEvent(deps, "out", record.name, reason, "added");
    deps.notify?.(scaleMail({ kind: "added", host: record, why: reason, fleet }));
    return record;
  } catch (error) {
    const message = (error as Error).message;
    if (record) {
      say(`✗ ${message} — undoing: deleting ${record.name}`);
      await removeBackend(deps.redis, backendIdFor(appUrlOf(config, record)), ACTOR).catch(
        () => undefined,
      );
      await deps.provider.deleteDroplet(record.dropletId, record.name);
    }
    const name = record?.name ?? nextName(inventory, config.name, "production");
    if (mailFailure)
      deps.notify?.(
        scaleMail({
          kind: "failed",
          name,
          why: reason,
          error: message,
          maxFailures: config.autoscale.max_failures,
        }),
      );
    await scalingEvent(deps, "out", name, reason, `failed: ${message}`);
    throw error;
  }
}

/** An app host's backend URL, as the proxy's routing table holds it. */
export const appUrlOf = (config: Pick<Config, "ports">, host: { address: string }) =>
  `http://${host.address}:${config.ports.app}`;

async function removeProductionHost(
  deps: ScaleDeps,
  reason: string,
  drainMs: number,
): Promise<FleetHostRecord> {
  const { config, provider, repo, say } = deps;
  const inventory = await repo.read();
  const production = inventory.hosts.filter((h) => h.role === "production");
  if (production.length <= config.autoscale.min) {
    throw new Error(
      `refusing to remove a host: production has ${production.length}, the floor (autoscale/min) is ${config.autoscale.min}`,
    );
  }
  const victim = [...production].sort(
    (a, b) => b.created.localeCompare(a.created) || b.name.localeCompare(a.name),
  )[0] as FleetHostRecord;
  const id = backendIdFor(appUrlOf(config, victim));
  const backend = (await listBackends(deps.redis)).find((b) => b.id === id);
  if (backend) {
    say(`▸ drain ${victim.name}`);
    await putBackend(deps.redis, { ...backend, draining: true }, ACTOR);
    await Bun.sleep(drainMs);
    await removeBackend(deps.redis, id, ACTOR);
  }
  say(`▸ delete ${victim.name} (droplet ${victim.dropletId})`);
  await provider.deleteDroplet(victim.dropletId, victim.name);
  await removeRedisUser(deps, victim.name);
  await forgetHost(deps.redis, victim.name, ACTOR).catch((error) =>
    say(`! ${victim.name}'s figures and alerts stay in Redis: ${(error as Error).message}`),
  );
  const fleet = await repo.edit(
    (inventory) => removeHost(inventory, victim.name),
    `scale in: ${reasonOnly(reason)} — removed ${victim.name} (${victim.address}, droplet ${victim.dropletId})`,
  );
  say(`✓ ${victim.name} removed`);
  await scalingEvent(deps, "in", victim.name, reason, "removed");
  deps.notify?.(scaleMail({ kind: "removed", host: victim, why: reason, fleet }));
  return victim;
}

/**
 * A new host's monitor gets a Redis user of its own (ACL SETUSER, saved to the ACL file), and
 * the playbook the URLs of that user and of its role's service (the app's track, or the proxy). Nothing when the fleet's Redis
 * has no users (REDIS_URL is not the control user's).
 */
async function addRedisUser(
  deps: ScaleDeps,
  name: string,
  role: RoleName,
  controlUrl: string | undefined,
  except?: string,
): Promise<Record<string, string>> {
  if (!controlUrl || !usesAcl(controlUrl)) return {};
  const master = decodeURIComponent(new URL(controlUrl).password);
  await onEveryRedisServer(
    deps,
    [
      ["ACL", "SETUSER", ...aclSetUser(master, monitorUser({ name }))],
      ["ACL", "SAVE"],
    ],
    except,
  );
  const urls = redisUrls(controlUrl, [{ name, role }]);
  const service = role === "proxy" ? ["proxy"] : role === "redis" ? [] : [appUser(role)];
  const own = [...service, monitorUser({ name })];
  return { DROPSHIP_REDIS_URLS: JSON.stringify(Object.fromEntries(own.map((u) => [u, urls[u]]))) };
}

/**
 * A removed host's monitor user goes with it; never fatal (the host is gone either way). The
 * Redis server of `except` (a dead host's) is not asked.
 */
export async function removeRedisUser(
  deps: ScaleDeps,
  name: string,
  except?: string,
): Promise<void> {
  const controlUrl = deps.playbookEnv.REDIS_URL;
  if (!controlUrl || !usesAcl(controlUrl)) return;
  try {
    await onEveryRedisServer(
      deps,
      [
        ["ACL", "DELUSER", monitorUser({ name })],
        ["ACL", "SAVE"],
      ],
      except,
    );
  } catch (error) {
    deps.say(`! the Redis user of ${name} stays: ${(error as Error).message}`);
  }
}

/**
 * ACL changes are not replicated: with a replica, each Redis server of the inventory is told
 * itself, at its own address as the control user (a server that does not answer is gone, and
 * said), all at once, so one that is gone costs one connect timeout, not one each; the server of
 * host `except` (dead, being replaced) not at all. With one server, the connection dropship has.
 */
async function onEveryRedisServer(
  deps: ScaleDeps,
  commands: string[][],
  except?: string,
): Promise<void> {
  const controlUrl = deps.playbookEnv.REDIS_URL as string;
  if (!isSentinelUrl(controlUrl)) {
    for (const command of commands) await deps.redis.call(...(command as [string, ...string[]]));
    return;
  }
  const master = decodeURIComponent(new URL(controlUrl).password);
  const servers = (await deps.repo.read()).hosts.filter(
    (h) => h.role === "redis" && h.name !== except,
  );
  let told = 0;
  await Promise.all(
    servers.map(async (server) => {
      const url = controlRedisUrlAt(master, server.address, deps.config.ports.redis);
      const client = connectRedis(url, { purpose: "acl", persistent: false, log: () => {} });
      try {
        await whenReady(client, url, 3000);
        for (const command of commands) await client.call(...(command as [string, ...string[]]));
        told++;
      } catch (error) {
        deps.say(
          `! ${server.name} did not take the Redis user change: ${(error as Error).message}`,
        );
      } finally {
        client.disconnect();
      }
    }),
  );
  if (told === 0) throw new Error("no Redis server took the user change");
}

const controlRedisUrlAt = (master: string, address: string, port: number) =>
  `redis://control:${encodeURIComponent(master)}@${address}:${port}/0`;

/**
 * What a new host's playbook needs where Redis has a replica: the Sentinel settings (a proxy
 * and a Redis host run one), and for a Redis host its password and every user, to join as a
 * replica of the primary the Sentinels name now.
 */
async function sentinelEnvFor(
  deps: ScaleDeps,
  role: RoleName,
  name: string,
  fleet: FleetHostRecord[],
): Promise<Record<string, string>> {
  const controlUrl = deps.playbookEnv.REDIS_URL;
  if (!controlUrl || !isSentinelUrl(controlUrl)) {
    if (role === "redis") throw new Error("a Redis host is added only where Redis has a replica");
    return {};
  }
  if (role !== "redis" && role !== "proxy") return {};
  const master = decodeURIComponent(new URL(controlUrl).password);
  // the Sentinels there are now: after a few replacements none of the URL's may be left
  const primary = await findPrimary(currentSentinels(controlUrl, fleet));
  const env = sentinelPlaybookEnv(master, primary.host);
  if (role !== "redis") return env;
  const hosts = [...fleet, { name, role }];
  return {
    ...env,
    ...redisMemoryEnv(deps.config.redis),
    DROPSHIP_REDIS_PASSWORD: master,
    DROPSHIP_REDIS_ACL: aclFile(master, hosts),
  };
}

/** Each scaling event in Redis too, for the dashboard and bun run status; never fatal. */
async function scalingEvent(
  deps: ScaleDeps,
  action: "out" | "in",
  host: string,
  why: string,
  result: string,
) {
  await recordEvent(deps.redis, KEYS.scaling, {
    action,
    host,
    why,
    result,
    at: new Date().toISOString(),
  }).catch(() => undefined);
}
