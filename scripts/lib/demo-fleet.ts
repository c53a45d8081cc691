import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { addHost, EMPTY, type FleetHostRecord, setDesired } from "../../gitops/model.ts";
import { InventoryRepo } from "../../gitops/repo.ts";
import { gitopsInventories } from "../../server/receiver/fleet.ts";
import { releaseDir } from "../../server/receiver/hook.ts";
import { runPlaybook } from "../../server/shared/ansible.ts";
import type { DigitalOcean } from "../../server/shared/cloud/digitalocean.ts";
import { createHosts, type NewHost } from "../../server/shared/cloud/provision.ts";
import { dropletSpecFor } from "../../server/shared/cloud/spec.ts";
import type { Config, RoleName } from "../../server/shared/config/schema.ts";
import { deliverRelease } from "../../server/shared/deliver.ts";
import { backendIdFor } from "../../server/shared/routing/model.ts";
import { Ssh } from "../../server/shared/ssh.ts";
import { changeFlag, listFlags } from "../../server/shared/state/flags.ts";
import { connectRedis, whenReady } from "../../server/shared/state/redis.ts";
import { putBackend } from "../../server/shared/state/routing.ts";

const ROOT = join(import.meta.dir, "../..");

/** The demo's fleet: one droplet per line, as a small real deployment would have. */
export const DEMO_HOSTS: [RoleName, string][] = [
  ["proxy", "demo-proxy-1"],
  ["redis", "demo-redis-1"],
  ["production", "demo-production-1"],
  ["production", "demo-production-2"],
  ["staging", "demo-staging-1"],
];

/** What each role's hosts run: the binaries shipped, the services restarted, the health path. */
const SERVICES: Record<RoleName, { binaries: string[]; restart: string[]; health: string }> = {
  proxy: {
    binaries: ["dropship-proxy", "dropship-monitor"],
    restart: ["proxy", "monitor"],
    health: ":80/_dropship/healthz",
  },
  redis: { binaries: ["dropship-monitor"], restart: ["monitor"], health: ":9100/healthz" },
  production: {
    binaries: ["dropship-app", "dropship-monitor"],
    restart: ["app", "monitor"],
    health: ":3000/healthz",
  },
  staging: {
    binaries: ["dropship-app", "dropship-monitor"],
    restart: ["app", "monitor"],
    health: ":3000/healthz",
  },
};

export interface DemoFleet {
  hosts: NewHost[];
  roleOf: Map<string, RoleName>;
  redisUrl: string;
  proxyUrl: string;
}

export interface FleetSettings {
  config: Config;
  provider: DigitalOcean;
  run: string;
  work: string;
  gitopsDir: string;
  adminToken: string;
  step: (text: string) => Promise<void>;
}

/** Creates the droplets (host keys pinned) and records them in the GitOps inventory. */
export async function createFleet(s: FleetSettings, keyId: number): Promise<DemoFleet> {
  const hosts = await createHosts(
    s.provider,
    DEMO_HOSTS.map(([role, name]) => {
      const { userData: _, ...spec } = dropletSpecFor(s.config, role, name, keyId, "");
      return spec;
    }),
    60_000,
    100,
  );
  writeFileSync(join(s.run, "known_hosts"), `${hosts.map((h) => h.knownHost).join("\n")}\n`);
  const roleOf = new Map(DEMO_HOSTS.map(([role, name]) => [name, role]));
  let inventory = setDesired(EMPTY, "production", 2);
  for (const h of hosts) {
    const record: FleetHostRecord = {
      name: h.name,
      role: roleOf.get(h.name) as RoleName,
      dropletId: h.droplet.id,
      address: h.droplet.ip as string,
      region: h.droplet.region,
      size: h.droplet.size,
      created: h.droplet.createdAt,
    };
    inventory = addHost(inventory, record);
  }
  await new InventoryRepo(s.gitopsDir).commit(
    inventory,
    `demo: created ${hosts.length} droplets (${hosts.map((h) => h.name).join(", ")})`,
  );
  const address = (role: RoleName) =>
    hosts.find((h) => roleOf.get(h.name) === role)?.droplet.ip as string;
  const password = crypto.randomUUID().replaceAll("-", "");
  return {
    hosts,
    roleOf,
    redisUrl: `redis://:${password}@${address("redis")}:6379/0`,
    proxyUrl: `http://${address("proxy")}`,
  };
}

/** The four playbooks at once, reading the GitOps inventory as every later run will. */
export async function convergeFleet(s: FleetSettings, fleet: DemoFleet): Promise<void> {
  const inventories = gitopsInventories(
    s.gitopsDir,
    { privateKeyFile: join(s.run, "id"), knownHostsFile: join(s.run, "known_hosts") },
    s.work,
  );
  const env = {
    REDIS_URL: fleet.redisUrl,
    DROPSHIP_REDIS_PASSWORD: new URL(fleet.redisUrl).password,
    DROPSHIP_ADMIN_TOKEN: s.adminToken,
  };
  const playbooks = ["redis.yml", "proxy.yml", "product.yml", "staging.yml"] as const;
  await Promise.all(playbooks.map((playbook) => runPlaybook(playbook, inventories, env)));
}

/** Compiles the binaries stamped `version` into the release directory the receiver keeps. */
export async function buildRelease(work: string, version: string): Promise<string> {
  const outdir = releaseDir(work, version);
  mkdirSync(outdir, { recursive: true });
  const argv = [process.execPath, join(ROOT, "scripts/build.ts"), "--outdir", outdir];
  const proc = Bun.spawn([...argv, "--version", version], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) throw new Error(`the ${version} build failed:\n${out}${err}`);
  return outdir;
}

/** Every host gets its role's binaries, restarted and healthy on the release's version. */
export async function deliverFleet(
  s: FleetSettings,
  fleet: DemoFleet,
  releases: { production: string; staging: string },
): Promise<void> {
  const privateKey = readFileSync(join(s.run, "id"), "utf8");
  await Promise.all(
    fleet.hosts.map(async (host) => {
      const role = fleet.roleOf.get(host.name) as RoleName;
      const version = role === "staging" ? releases.staging : releases.production;
      const service = SERVICES[role];
      const ssh = await Ssh.connect({
        host: host.droplet.ip as string,
        privateKey,
        hostPublicKey: host.hostKey.publicKey,
      });
      try {
        await deliverRelease(
          ssh,
          {
            version,
            binaries: service.binaries.map((b) => join(releaseDir(s.work, version), b)),
          },
          {
            cacheDir: join(s.work, "cache", "releases"),
            restart: service.restart,
            healthUrl: `http://${host.droplet.ip}${service.health}`,
            healthTimeoutMs: 30_000,
          },
        );
        await ssh.check(`echo ${version} >> /srv/dropship/deployed`);
      } finally {
        ssh.close();
      }
    }),
  );
}

/** The proxy's rotation and the seed's flag, in the fleet's Redis. */
export async function routeFleet(fleet: DemoFleet): Promise<void> {
  const redis = connectRedis(fleet.redisUrl, { purpose: "demo", persistent: true, log: () => {} });
  try {
    await whenReady(redis, fleet.redisUrl, 10_000);
    if (!(await listFlags(redis)).some((f) => f.name === "disableSET"))
      await changeFlag(redis, "disableSET", { enabled: false, rollout: 100 }, "demo", "create");
    for (const host of fleet.hosts) {
      const role = fleet.roleOf.get(host.name);
      if (role !== "production" && role !== "staging") continue;
      const url = `http://${host.droplet.ip}:3000`;
      await putBackend(redis, { id: backendIdFor(url), url, track: role, draining: false }, "demo");
    }
  } finally {
    redis.disconnect();
  }
}
