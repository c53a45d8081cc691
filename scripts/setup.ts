import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { dirname, resolve } from "node:path";
import { missingHosts, wantedHosts } from "../gitops/model.ts";
import { inventoryRepoFor } from "../gitops/repo.ts";
import { tlsWanted } from "../server/receiver/certificate-deps.ts";
import { providerFromEnv } from "../server/shared/cloud/digitalocean.ts";
import { formatCost, hourlyCost } from "../server/shared/cloud/sizes.ts";
import { fleetEnvFile, writeFleetEnv } from "../server/shared/config/env-file.ts";
import { loadRequiredConfig } from "../server/shared/config/locate.ts";
import { localPaths } from "../server/shared/config/paths.ts";
import type { Config } from "../server/shared/config/schema.ts";
import { ADMIN_PORT } from "../server/shared/env.ts";
import { releaseVersion } from "../server/shared/host/layout.ts";
import { run } from "../server/shared/proc.ts";
import { counted } from "../server/shared/text/words.ts";
import { readOwnCertificate } from "../server/shared/tls/files.ts";
import { runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { addressOf, bringUp, entryOf, fleetRedisUrl } from "./lib/setup.ts";

const SPEC = {
  verb: "setup",
  usage: ["setup [--dry-run]"],
  about: `Brings a deployment up on DigitalOcean, or completes it: creates the droplets each role lacks
(one proxy, one Redis, roles/production/count, roles/staging/count), tagged and with pinned
host keys, and commits them to the GitOps inventory; configures every host with the
playbooks; builds this checkout and delivers it to every host (staging too); puts the app
hosts in the proxy's rotation; and starts the receiver's repository at this commit, so the
first git push deploys on top of it. Run it again at any time: what exists is kept, the
playbooks change only what drifted, and a release already on a host is not sent again.`,
  options: {
    "dry-run": {
      type: "boolean",
      description:
        "print the droplets it would create and the fleet's cost; check the key pair and the token; change nothing",
    },
  },
  env: [
    "DROPSHIP_CONFIG",
    "DIGITALOCEAN_TOKEN",
    "DIGITALOCEAN_API_URL",
    "DROPSHIP_ADMIN_TOKEN",
    "DROPSHIP_REDIS_PASSWORD",
    "DROPSHIP_SSH_KEY",
    "DROPSHIP_KNOWN_HOSTS",
    "DROPSHIP_WORK",
    "DROPSHIP_REPOS",
    "SMTP_URL",
    "ALERT_EMAIL_TO",
  ],
} satisfies VerbSpec;

await runVerb(SPEC, async ({ values }) => {
  const dryRun = values["dry-run"] === true;
  const env = process.env;
  const { config, file: configFile } = loadRequiredConfig((line) => console.log(line));
  // a certificate file that cannot serve is said before anything is created
  if (config.proxy.tls.certificate_file) {
    try {
      readOwnCertificate(config.proxy.tls, dirname(configFile));
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  const repo = inventoryRepoFor(config);
  const inventory = await repo.read();
  const missing = missingHosts(inventory, config.name, wantedHosts(config));
  const sizes = [
    ...inventory.hosts.map((h) => h.size),
    ...missing.map((m) => config.roles[m.role].size),
  ];
  console.log(
    missing.length > 0
      ? `to create: ${missing.map((m) => `${m.name} (${config.roles[m.role].size})`).join(", ")}`
      : `every role has its hosts (${inventory.hosts.length} in the inventory)`,
  );
  console.log(`fleet cost: ${formatCost(hourlyCost(sizes))}`);
  // what a real run needs first, checked by --dry-run too: the key pair and the token
  const paths = localPaths(config, env);
  const keyFile = paths.sshKey;
  console.log(`✓ SSH key ${checkKeyPair(keyFile)}`);
  const provider = providerFromEnv(env, (line) => console.log(`  ${line}`));
  try {
    const tagged = await provider.listByTag(config.digitalocean.tag);
    console.log(
      `✓ DIGITALOCEAN_TOKEN works (${counted(tagged.length, "droplet")} tagged ${config.digitalocean.tag})`,
    );
  } catch (error) {
    throw new UsageError(
      `DigitalOcean did not accept the request with DIGITALOCEAN_TOKEN (${(error as Error).message}) — check the token and that it may read and write droplets`,
    );
  }
  if (dryRun) return;

  const adminToken = env.DROPSHIP_ADMIN_TOKEN ?? "";
  const redisPassword = env.DROPSHIP_REDIS_PASSWORD ?? "";
  if (adminToken.length < 16)
    throw new UsageError(
      "DROPSHIP_ADMIN_TOKEN must be set, 16 characters or more (openssl rand -hex 16)",
    );
  if (redisPassword.length < 16)
    throw new UsageError(
      "DROPSHIP_REDIS_PASSWORD must be set, 16 characters or more (openssl rand -hex 16)",
    );
  const knownHostsFile = paths.knownHosts;
  mkdirSync(dirname(knownHostsFile), { recursive: true });
  if (!existsSync(knownHostsFile)) writeFileSync(knownHostsFile, "");
  const work = paths.work;
  const settings = {
    config,
    provider,
    repo,
    work,
    keyFile,
    knownHostsFile,
    usersFile: paths.users,
    secrets: {} as Record<string, string>,
    configFile,
    pollMs: 3000,
  };

  const root = resolve(import.meta.dir, "..");
  const sha = run(["git", "-C", root, "rev-parse", "HEAD"]).trim();
  const release = releaseVersion(sha);
  const { fleet } = await bringUp(settings, {
    adminToken,
    redisPassword,
    extraSecrets: {
      ...(env.SMTP_URL ? { SMTP_URL: env.SMTP_URL } : {}),
      ...(env.ALERT_EMAIL_TO ? { ALERT_EMAIL_TO: env.ALERT_EMAIL_TO } : {}),
    },
    commit: sha,
    releases: { production: release, staging: release },
    repos: paths.repos,
    step: (text) => console.log(`▸ ${text}`),
  });
  const proxyUrl = `http://${entryOf(fleet)}${config.ports.proxy === 80 ? "" : `:${config.ports.proxy}`}`;
  // the admin listener answers the control host, which reaches the proxy in the VPC
  const scheme = tlsWanted(config) ? "https" : "http";
  const dashboardUrl = `${scheme}://${addressOf(fleet, "proxy")}:${ADMIN_PORT}/_dropship/`;
  const fleetEnv = fleetEnvFile();
  writeFleetEnv(fleetEnv, {
    REDIS_URL: fleetRedisUrl(config, redisPassword, fleet),
    PROXY_URL: proxyUrl,
    DASHBOARD_URL: dashboardUrl,
    DROPSHIP_KNOWN_HOSTS: knownHostsFile,
  });
  console.log(`
✓ ${config.name} is up: ${proxyUrl}/
  dashboard: ${dashboardUrl} (the password is DROPSHIP_ADMIN_TOKEN)
  ${fleetEnv}: the Redis URL, the proxy's URLs and the known hosts, for every other command
  next: bun run receiver (keep it running), then from this checkout:
    git remote add prod http://you@${hostname()}:${config.ports.receiver}/app.git
    ${pushLine(config, run(["git", "-C", root, "branch", "--show-current"]).trim())}
  (git asks for the password: it is DROPSHIP_ADMIN_TOKEN from .env)`);
});

/** The push that deploys this checkout to production, whatever its branch is called. */
function pushLine(config: Config, branch: string): string {
  const { production } = config.pipeline.branches;
  return production.includes(branch)
    ? `git push prod ${branch}`
    : `git push prod HEAD:${production[0] ?? "main"}   # ${branch || "this checkout"} is not a production branch`;
}

/** The key pair dropship logs in with: both halves there, matching, and no passphrase. */
function checkKeyPair(keyFile: string): string {
  if (!existsSync(keyFile) || !existsSync(`${keyFile}.pub`))
    throw new UsageError(
      `no SSH key pair at ${keyFile}(.pub) — set DROPSHIP_SSH_KEY, or run ssh-keygen -t ed25519 -N "" -f ${keyFile}`,
    );
  const derived = Bun.spawnSync(["ssh-keygen", "-y", "-P", "", "-f", keyFile], {
    stdout: "pipe",
    stderr: "pipe",
  });
  if (derived.exitCode !== 0)
    throw new UsageError(
      `${keyFile} cannot be read without a passphrase (${derived.stderr.toString().trim()}) — dropship logs in unattended: use a key without one`,
    );
  const half = (text: string) => text.trim().split(/\s+/).slice(0, 2).join(" ");
  if (half(derived.stdout.toString()) !== half(readFileSync(`${keyFile}.pub`, "utf8")))
    throw new UsageError(
      `${keyFile}.pub is not the public half of ${keyFile} — regenerate it with ssh-keygen -y -f ${keyFile}`,
    );
  return keyFile;
}
