import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { addHost, missingHosts, wantedHosts } from "../../gitops/model.ts";
import type { InventoryRepo } from "../../gitops/repo.ts";
import { recordShipped, releaseDir } from "../../pipeline/deploy.ts";
import { type Fleet, type FleetHost, gitopsInventories, readFleet } from "../../pipeline/fleet.ts";
import { createRepo } from "../../pipeline/repos.ts";
import { monitorSettingsOf, SETTINGS_VARIABLE } from "../../server/monitor/settings.ts";
import { certificateDeps, tlsWanted } from "../../server/receiver/certificate-deps.ts";
import { certificateRound } from "../../server/receiver/certificates.ts";
import { convergeSummary, runPlaybook } from "../../server/shared/ansible.ts";
import type { DigitalOcean } from "../../server/shared/cloud/digitalocean.ts";
import { fleetFirewalls } from "../../server/shared/cloud/firewall.ts";
import { loadBalancerFor, PROXY_HEALTH_PATH } from "../../server/shared/cloud/load-balancer.ts";
import { createHosts, recordOf } from "../../server/shared/cloud/provision.ts";
import { dropletSpecFor } from "../../server/shared/cloud/spec.ts";
import { appSettingsFile, appSettingsVariable } from "../../server/shared/config/env-file.ts";
import type { Config, RoleName } from "../../server/shared/config/schema.ts";
import { deliverRelease, releaseFiles } from "../../server/shared/deliver.ts";
import { hostCommands } from "../../server/shared/host/layout.ts";
import { BUILD_SERVERS_VARIABLE } from "../../server/shared/platform.ts";
import { run, runAsync } from "../../server/shared/proc.ts";
import { healthUrlOf, RELEASED, ROLES } from "../../server/shared/roles.ts";
import { backendIdFor } from "../../server/shared/routing/model.ts";
import { allEnded } from "../../server/shared/settle.ts";
import { targetOf, withSsh } from "../../server/shared/ssh.ts";
import { aclFile, redisUrls } from "../../server/shared/state/acl.ts";
import { changeFlag, listFlags } from "../../server/shared/state/flags.ts";
import { connectRedis, whenReady } from "../../server/shared/state/redis.ts";
import { redisMemoryEnv } from "../../server/shared/state/redis-memory.ts";
import { ensureCanary, putBackend } from "../../server/shared/state/routing.ts";
import { alignSentinelTimings, findPrimary } from "../../server/shared/state/sentinel.ts";
import {
  controlSentinelUrl,
  SENTINEL_TIMINGS,
  sentinelPlaybookEnv,
} from "../../server/shared/state/sentinel-fleet.ts";
import { isSentinelUrl, parseSentinelUrl } from "../../server/shared/state/sentinel-url.ts";

import { waitForHttp } from "./processes.ts";

const ROOT = join(import.meta.dir, "../..");

export interface SetupSettings {
  config: Config;
  provider: DigitalOcean;
  repo: InventoryRepo;
  work: string;
  /** the account key dropship logs in with (its .pub is registered with DigitalOcean) */
  keyFile: string;
  knownHostsFile: string;
  /** DROPSHIP_USERS_FILE: the named users, given to the proxy hosts (missing: none) */
  usersFile: string;
  /** REDIS_URL, DROPSHIP_REDIS_PASSWORD, DROPSHIP_ADMIN_TOKEN, SMTP_URL … for the playbooks */
  secrets: Record<string, string>;
  /** the dropship.yml read, copied to the proxy host for its own settings */
  configFile: string;
  /** how often to ask whether new droplets are active (the API's rate limit is 250/min) */
  pollMs: number;
}

/** Creates the droplets the roles lack (host keys pinned), then commits them to the inventory. */
async function createDroplets(
  s: SetupSettings,
  missing: { role: RoleName; name: string }[],
): Promise<void> {
  const key = await s.provider.ensureSshKey(
    `${s.config.name}-dropship`,
    readFileSync(`${s.keyFile}.pub`, "utf8"),
  );
  const hosts = await createHosts(
    s.provider,
    missing.map(({ role, name }) => {
      const { userData: _, ...spec } = dropletSpecFor(s.config, role, name, key.id, "");
      return spec;
    }),
    180_000,
    s.pollMs,
  );
  appendFileSync(s.knownHostsFile, `${hosts.map((h) => h.knownHost).join("\n")}\n`);
  let next = await s.repo.read();
  for (const h of hosts) {
    next = addHost(next, recordOf(h, missing.find((m) => m.name === h.name)?.role as RoleName));
  }
  await s.repo.commit(next, `setup: created ${hosts.map((h) => h.name).join(", ")}`);
}

/**
 * The load balancer in front of the proxies, made or brought up to date, and once active
 * recorded in the inventory (a commit only when it changed): its address is the public entry.
 */
async function ensureLoadBalancer(s: SetupSettings): Promise<void> {
  const { balancer } = await s.provider.ensureLoadBalancer(loadBalancerFor(s.config));
  const active = await s.provider.waitLoadBalancerActive(balancer, 600_000, s.pollMs);
  const inventory = await s.repo.read();
  const record = { id: active.id, name: active.name, ip: active.ip };
  if (JSON.stringify(inventory.loadBalancer) === JSON.stringify(record)) return;
  await s.repo.commit(
    { ...inventory, loadBalancer: record },
    `setup: load balancer ${active.name} (${active.ip}) in front of the proxies`,
  );
}

/** The fleet as Ansible and the receiver read it: the GitOps inventory plus this machine's keys. */
function currentFleet(s: SetupSettings): Fleet {
  return readFleet(inventoriesOf(s));
}

function inventoriesOf(s: SetupSettings): string[] {
  return gitopsInventories(
    s.repo.dir,
    { privateKeyFile: s.keyFile, knownHostsFile: s.knownHostsFile },
    s.work,
  );
}

/** The control user's Redis URL: what the control host (setup, the receiver, the CLI) uses. */
export function controlRedisUrl(password: string, address: string, port: number): string {
  return `redis://control:${encodeURIComponent(password)}@${address}:${port}/0`;
}

/**
 * This machine's address as the droplets see it (behind NAT, only they can say): the client
 * address of an SSH session to one of them. The firewalls let this address, and only it, reach
 * SSH, the monitors and the admin port.
 */
async function controlAddress(fleet: Fleet): Promise<string> {
  const host = fleet.hosts[0];
  if (!host) throw new Error("no hosts to ask for this machine's address");
  const seen = await withSsh(targetOf(host, fleet), (ssh) =>
    ssh.check("echo $SSH_CLIENT | cut -d' ' -f1"),
  );
  const address = seen.trim();
  if (!/^[\d.]+$|^[\da-f:]+$/i.test(address))
    throw new Error(
      `${host.name} did not say this machine's address (got ${JSON.stringify(address)})`,
    );
  return address;
}

/**
 * Where visitors come in: the load balancer in front of several proxies, else the proxy's
 * public address (its only one outside a VPC).
 */
export function entryOf(fleet: Fleet): string {
  if (fleet.loadBalancerIp) return fleet.loadBalancerIp;
  const proxy = fleet.hosts.find((h) => h.role === "proxy");
  if (!proxy) throw new Error("the inventory has no proxy host");
  return proxy.publicAddress ?? proxy.address;
}

/**
 * The control user's Redis URL: through the Sentinels when Redis has a replica
 * (roles.redis.count 2), else the Redis host itself.
 */
export function fleetRedisUrl(config: Config, password: string, fleet: Fleet): string {
  return config.roles.redis.count > 1
    ? controlSentinelUrl(password, fleet.hosts)
    : controlRedisUrl(password, addressOf(fleet, "redis"), config.ports.redis);
}

/**
 * The primary now: what the Sentinels say when they run (a later setup after a failover),
 * else the first Redis host, which the first setup makes the primary.
 */
async function currentPrimary(redisUrl: string, fleet: Fleet): Promise<string> {
  try {
    return (await findPrimary(parseSentinelUrl(redisUrl))).host;
  } catch {
    return addressOf(fleet, "redis");
  }
}

/** Resolves once the primary has a replica online, so WAIT has one to wait for. */
async function untilReplicated(redisUrl: string): Promise<void> {
  const redis = connectRedis(redisUrl, { purpose: "setup", persistent: true, log: () => {} });
  try {
    await whenReady(redis, redisUrl, 30_000);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const info = String(await redis.call("INFO", "replication"));
      if (/slave\d+:.*state=online/.test(info)) return;
      if (Date.now() > deadline)
        throw new Error(
          `the Redis replica did not come online within 60 s (the primary says: ${info.replace(/\s+/g, " ").trim()}) — see bun run logs redis`,
        );
      await Bun.sleep(250);
    }
  } finally {
    redis.disconnect();
  }
}

/** The address of the role's first host, for the URLs other hosts are given. */
export function addressOf(fleet: Fleet, role: RoleName): string {
  const host = fleet.hosts.find((h) => h.role === role);
  if (!host) throw new Error(`the inventory has no ${role} host`);
  return host.address;
}

/**
 * The four playbooks at once, reading the GitOps inventory as every later run will; answers
 * what they changed, in a line. A failure is thrown once all four have ended, with every
 * playbook's that failed.
 */
async function convergeFleet(s: SetupSettings): Promise<string> {
  const inventories = inventoriesOf(s);
  const playbooks = ["redis.yml", "proxy.yml", "product.yml", "staging.yml"] as const;
  const env = {
    ...s.secrets,
    DROPSHIP_CONFIG_FILE: resolve(s.configFile),
    DROPSHIP_USERS: existsSync(s.usersFile) ? readFileSync(s.usersFile, "utf8") : "",
    DROPSHIP_ADMIN_ALLOW: s.config.proxy.admin_allow.join(","),
    ...redisMemoryEnv(s.config.redis),
    [SETTINGS_VARIABLE]: JSON.stringify(monitorSettingsOf(s.config)),
    ...appSettingsVariable(appSettingsFile()),
  };
  return convergeSummary(
    await allEnded(playbooks.map((playbook) => runPlaybook(playbook, inventories, env))),
  );
}

/** Compiles the binaries stamped `version` into the release directory the receiver keeps. */
export async function buildRelease(work: string, version: string): Promise<string> {
  const outdir = releaseDir(work, version);
  mkdirSync(outdir, { recursive: true });
  const build = [process.execPath, join(ROOT, "scripts/build.ts"), "--outdir", outdir];
  const { code, stdout, stderr } = await runAsync([...build, "--version", version], {
    env: { ...process.env, [BUILD_SERVERS_VARIABLE]: RELEASED.join(",") },
  });
  if (code !== 0) throw new Error(`the ${version} build failed:\n${stdout}${stderr}`);
  return outdir;
}

/** Every host gets its role's binaries, restarted and healthy on the release's version. */
async function deliverFleet(
  s: SetupSettings,
  fleet: Fleet,
  releases: { production: string; staging: string },
): Promise<void> {
  await Promise.all(
    fleet.hosts.map(async (host: FleetHost) => {
      const version = host.role === "staging" ? releases.staging : releases.production;
      const services = ROLES[host.role].services;
      await withSsh(targetOf(host, fleet), async (ssh) => {
        await deliverRelease(
          ssh,
          { version, binaries: releaseFiles(releaseDir(s.work, version), host.role) },
          {
            cacheDir: join(s.work, "cache", "releases"),
            restart: services,
            healthUrl: healthUrlOf(s.config, host.role, host.address),
            healthTimeoutMs: s.config.pipeline.health_timeout,
          },
        );
        await ssh.check(hostCommands.recordDeployed(version));
      });
    }),
  );
}

/** The proxy's rotation (every app host), the seed's flag and the canary, in the fleet's Redis. */
async function routeFleet(redisUrl: string, fleet: Fleet, config: Config, staging: string) {
  const redis = connectRedis(redisUrl, { purpose: "setup", persistent: true, log: () => {} });
  try {
    await whenReady(redis, redisUrl, 10_000);
    if (!(await listFlags(redis)).some((f) => f.name === "disableSET"))
      await changeFlag(redis, "disableSET", { enabled: false, rollout: 100 }, "setup", "create");
    await ensureCanary(redis, { weight: config.canary.weight, release: staging }, "setup");
    for (const host of fleet.hosts) {
      if (host.role !== "production" && host.role !== "staging") continue;
      const url = `http://${host.address}:${config.ports.app}`;
      const backend = { id: backendIdFor(url), url, track: host.role, draining: false };
      await putBackend(redis, backend, "setup");
    }
  } finally {
    redis.disconnect();
  }
}

/**
 * The receiver's repository starts at the commit that now runs, and the work dir remembers it
 * as shipped, so the first push deploys on top of it and scale-out has a release to give.
 * Fetching into a bare repository runs no hook.
 */
function seedReceiver(repos: string, work: string, commit: string): void {
  const bare = join(repos, "app.git");
  if (!existsSync(join(bare, "HEAD"))) createRepo(bare);
  run(["git", "--git-dir", bare, "fetch", "-q", ROOT, `+${commit}:refs/heads/master`]);
  run(["git", "--git-dir", bare, "update-ref", "refs/heads/staging", commit]);
  recordShipped(work, "production", commit);
  recordShipped(work, "staging", commit);
}

export interface BringUpOptions {
  adminToken: string;
  redisPassword: string;
  /** SMTP_URL, ALERT_EMAIL_TO … when set */
  extraSecrets?: Record<string, string>;
  /** the commit that goes live, and the versions built from it for each track */
  commit: string;
  releases: { production: string; staging: string };
  /** the receiver's repositories, started at `commit` */
  repos: string;
  /** says a step is starting */
  step: (text: string) => void | Promise<void>;
  /** DROPSHIP_DNS_SERVER, DROPSHIP_ACME_CA_FILE, SMTP_URL … for getting certificates */
  tlsEnv?: Record<string, string | undefined>;
  /** says a line within a step */
  say?: (line: string) => void;
}

/**
 * The whole way from an account to a serving fleet, shared by `bun run setup` and the demo:
 * the missing droplets, the playbooks (the builds run meanwhile: Ansible mostly waits on SSH),
 * the releases on every host, the proxy's rotation, and the receiver's repository.
 */
export async function bringUp(
  s: SetupSettings,
  o: BringUpOptions,
): Promise<{ fleet: Fleet; redisUrl: string }> {
  const missing = missingHosts(await s.repo.read(), s.config.name, wantedHosts(s.config));
  if (missing.length > 0) {
    await o.step(
      `create ${missing.length} droplets: ${missing.map((m) => m.name).join(", ")} (each waits until active)`,
    );
    await createDroplets(s, missing);
  }
  let fleet = currentFleet(s);
  const redisUrl = fleetRedisUrl(s.config, o.redisPassword, fleet);
  const sentinel = isSentinelUrl(redisUrl);
  s.secrets = {
    ...(sentinel
      ? sentinelPlaybookEnv(o.redisPassword, await currentPrimary(redisUrl, fleet))
      : {}),
    REDIS_URL: redisUrl,
    DROPSHIP_REDIS_PASSWORD: o.redisPassword,
    // a Redis user per role: the Redis host gets them all (hashed), each host its own URLs
    DROPSHIP_REDIS_ACL: aclFile(o.redisPassword, fleet.hosts),
    DROPSHIP_REDIS_URLS: JSON.stringify(redisUrls(redisUrl, fleet.hosts)),
    DROPSHIP_ADMIN_TOKEN: o.adminToken,
    ...o.extraSecrets,
  };
  const control = await controlAddress(fleet);
  await o.step(`cloud firewalls: one per role; SSH, monitors and admin from ${control}`);
  for (const firewall of fleetFirewalls(s.config, [control]))
    await s.provider.ensureFirewall(firewall);
  if (s.config.roles.proxy.count > 1) {
    await o.step(
      `a load balancer in front of the ${s.config.roles.proxy.count} proxies (waits until active)`,
    );
    await ensureLoadBalancer(s);
    fleet = currentFleet(s);
  }
  const { production, staging } = o.releases;
  await o.step("configure every host with Ansible (redis, proxy, product, staging playbooks)");
  const building = buildRelease(s.work, production).then(() =>
    staging === production ? undefined : buildRelease(s.work, staging),
  );
  building.catch(() => undefined); // awaited below, where a failure stops the bring-up
  sayOf(o)(await convergeFleet(s));
  if (sentinel) {
    // Sentinels keep their files: one set up by an older dropship gets this one's timings here
    await o.step("the Sentinels' timings are this version's");
    const say = sayOf(o);
    for (const line of await alignSentinelTimings(parseSentinelUrl(redisUrl), SENTINEL_TIMINGS))
      say(line);
    await o.step("wait for the Redis replica to hold a copy (changes wait for it from now on)");
    await untilReplicated(redisUrl);
  }
  await o.step(
    staging === production
      ? `build ${production}`
      : `build ${production} for production and ${staging} for staging`,
  );
  await building;
  await o.step("deliver the releases to every host");
  await deliverFleet(s, fleet, o.releases);
  await o.step("put the app hosts in the proxy's rotation");
  await routeFleet(redisUrl, fleet, s.config, staging);
  if (fleet.loadBalancerIp) {
    // its health checks marked the proxies down while they were being set up: they count as
    // up again after healthy_threshold passes, and only then does the entry serve
    await o.step(`wait for the load balancer ${fleet.loadBalancerIp} to pass to the proxies`);
    await waitForHttp(
      `http://${fleet.loadBalancerIp}${PROXY_HEALTH_PATH}`,
      120_000,
      "the load balancer",
    );
  }
  if (tlsWanted(s.config)) {
    await o.step(`HTTPS for ${s.config.proxy.tls.domains.join(", ")}`);
    await bringUpHttps(s, fleet, redisUrl, o);
  }
  seedReceiver(o.repos, s.work, o.commit);
  return { fleet, redisUrl };
}

/** A line within a step: the caller's way, else indented on stdout. */
const sayOf = (o: BringUpOptions) => o.say ?? ((line: string) => console.log(`  ${line}`));

/**
 * Points each domain at the public entry where DigitalOcean holds its zone (else says which
 * records to create by hand), then gets the certificates once; a failure is said, and the
 * receiver keeps trying with backoff.
 */
async function bringUpHttps(s: SetupSettings, fleet: Fleet, redisUrl: string, o: BringUpOptions) {
  const say = sayOf(o);
  const entry = entryOf(fleet);
  const { tls } = s.config.proxy;
  for (const domain of tls.domains) {
    const pointed = await s.provider.pointDomain(domain, entry);
    say(
      pointed === "not-hosted"
        ? `${domain} is not on DigitalOcean DNS: create the record ${domain}. A ${entry} with your DNS provider`
        : `${domain} A ${entry} (DigitalOcean DNS: ${pointed})`,
    );
  }
  const redis = connectRedis(redisUrl, { purpose: "setup certificates", persistent: false });
  try {
    await whenReady(redis, redisUrl, 10_000);
    const deps = {
      ...certificateDeps(s.config, s.configFile, redis, say, { ...process.env, ...o.tlsEnv }),
      entry: async () => [entry],
    };
    // the round says what it asks for and what came of it
    await certificateRound(deps);
  } finally {
    redis.disconnect();
  }
}
