import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { InventoryRepo } from "../gitops/repo.ts";
import { EMULATOR } from "../server/emulator/this-network.ts";
import { DigitalOcean } from "../server/shared/cloud/digitalocean.ts";
import { parseConfigText } from "../server/shared/config/load.ts";
import { ADMIN_PORT } from "../server/shared/env.ts";
import { releaseVersion } from "../server/shared/host/layout.ts";
import { run } from "../server/shared/proc.ts";
import { formatUsers, newUserToken, tokenHash } from "../server/shared/users.ts";
import { ArgumentError, runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { demoAutoscale, readEmulatorLimits } from "./lib/demo-autoscale.ts";
import { startEmulatorDaemon } from "./lib/emulator.ts";
import { pebbleRoot, preparePebble, untilPebbleAnswers } from "./lib/pebble.ts";
import { freePort, isAlive, startDaemon, stopAll, waitForHttp } from "./lib/processes.ts";
import { addressOf, bringUp, entryOf, type SetupSettings } from "./lib/setup.ts";
import { untilSignal } from "./lib/signals.ts";

const SPEC = {
  verb: "demo",
  usage: ["demo [--ha] [--detach | --down]"],
  about: `The whole system on this machine, through the same code paths as the cloud (needs root: the
local DigitalOcean emulator boots each droplet as a host with its own network namespace and
sshd). Starts the emulator and the receiver; creates proxy, redis, 2 production and 1
staging droplets; configures them with the real playbooks; deploys the current checkout to
production and a build stamped "-canary" to staging; routes 30% of new visitors to it. The
site is https://shop.test, its certificate issued over ACME by Let's Encrypt's test CA
(pebble) through the emulator's DNS. Prints the proxy and dashboard URLs, the admin token and the git commands that push to it,
and writes them, with everything the CLI needs (bun run status, scale, flags …), to
.dropship/demo.env. Without an option it runs in the foreground, and Ctrl-C tears
everything down. With --ha: 2 proxies behind a load balancer (the emulator's, HAProxy), which
is the public entry, and 2 Redis (a primary and a replica) with Sentinel on the Redis and
proxy droplets.`,
  options: {
    ha: {
      type: "boolean",
      description: "2 proxies behind a load balancer (the public entry), 2 Redis with Sentinel",
    },
    detach: {
      type: "boolean",
      description: "return once everything serves; stop it later with --down",
    },
    down: {
      type: "boolean",
      description: "stop a detached demo: droplets, namespaces, processes and files",
    },
  },
} satisfies VerbSpec;

const ROOT = resolve(import.meta.dir, "..");
const STATE = resolve(process.env.DROPSHIP_DEMO_DIR ?? join(ROOT, ".dropship"));
const RUN = join(STATE, "demo");
const PIDS = join(RUN, "pids.json");
const ENV_FILE = join(STATE, "demo.env");
/** the demo's domain, and the emulator's DNS server that answers for it */
const DOMAIN = "shop.test";
const EMULATOR_DNS = `${EMULATOR.public.gateway}:53`;
/** What gates the demo's pushes: the sample app's own tests. */
const APP_TESTS = "bun test tests/server/app/requests.test.ts";

await runVerb(SPEC, async ({ values }) => {
  if (values.detach && values.down) throw new ArgumentError("--detach or --down, not both");
  const mode = values.down ? "--down" : values.detach ? "--detach" : undefined;
  if (mode === "--down") return down();
  if (process.getuid?.() !== 0) {
    throw new UsageError(
      "the demo needs root: its droplets are network namespaces with their own sshd (run it with sudo)",
    );
  }
  const running = readPids().filter(isAlive);
  if (running.length > 0) {
    throw new UsageError(
      `a demo is already running (pids ${running.join(", ")}); stop it with bun run demo --down`,
    );
  }
  const pids: number[] = [];
  let stopping = false;
  const interrupted = () => {
    stopping = true;
  };
  process.once("SIGINT", interrupted);
  try {
    await up(pids, () => stopping, values.ha === true);
  } catch (error) {
    // (the step under way has printed its line without an end)
    console.error(`\n▸ ${stopping ? "interrupted: " : ""}tearing down what was started`);
    await stopAll(pids, 10_000);
    rmSync(RUN, { recursive: true, force: true });
    // Ctrl-C reaches the step's own programs too (a playbook says "User interrupted
    // execution", Mitogen prints a traceback): their failure is the interruption, not news
    if (!stopping) throw error;
    console.error("dropship demo: interrupted; nothing it started is left running");
    process.exitCode = 130;
    return;
  }
  process.off("SIGINT", interrupted);
  if (mode === "--detach") return;
  console.log("\nCtrl-C stops the demo and deletes its droplets.");
  await untilSignal();
  console.log("\nstopping the demo…");
  await down();
});

async function up(pids: number[], stopping: () => boolean, ha: boolean) {
  rmSync(RUN, { recursive: true, force: true });
  mkdirSync(RUN, { recursive: true });
  const work = join(RUN, "work");
  const gitopsDir = join(RUN, "inventory");
  const started = performance.now();
  let last = started;
  const step = async (text: string) => {
    if (stopping()) throw new UsageError("interrupted");
    const now = performance.now();
    if (last !== started) process.stdout.write(` (${((now - last) / 1000).toFixed(1)} s)\n`);
    last = now;
    process.stdout.write(`▸ ${text}`);
  };
  const record = (pid: number) => {
    pids.push(pid);
    writeFileSync(PIDS, JSON.stringify(pids));
  };

  await step("DigitalOcean emulator");
  const { token: apiToken, apiUrl } = await startEmulatorDaemon(
    join(RUN, "emulator"),
    join(RUN, "emulator.log"),
    record,
  );
  const provider = new DigitalOcean({ token: apiToken, apiUrl });
  const limitsFile = join(RUN, "emulator", "limits.json");
  const autoscale = demoAutoscale(
    readEmulatorLimits(existsSync(limitsFile) ? readFileSync(limitsFile, "utf8") : undefined),
  );
  process.stdout.write(`\n  ${autoscale.note}`);

  // HTTPS as on a real account: the domain in the account's DNS (answered by the emulator's
  // DNS server), certificates over ACME from Let's Encrypt's test CA, which validates through
  // that DNS on port 80 of the proxy droplet
  await step(`Let's Encrypt's test CA (pebble) and the domain ${DOMAIN}`);
  const pebble = preparePebble(RUN, { httpPort: 80, dnsServer: EMULATOR_DNS });
  record(startDaemon(pebble.argv, pebble.env, join(RUN, "pebble.log")));
  await untilPebbleAnswers(pebble);
  await provider.createDomain(DOMAIN);
  const tlsEnv = {
    DROPSHIP_DNS_SERVER: EMULATOR_DNS,
    DROPSHIP_ACME_CA_FILE: pebble.listenerCaFile,
  };

  const adminToken = crypto.randomUUID().replaceAll("-", "");
  // a named user, so the demo's pushes and changes are recorded as demo's (bun run users)
  const demoToken = newUserToken();
  writeFileSync(
    join(RUN, "users"),
    formatUsers([
      { name: "demo", hash: tokenHash(demoToken), added: new Date().toISOString().slice(0, 10) },
    ]),
    { mode: 0o600 },
  );
  const redisPassword = crypto.randomUUID().replaceAll("-", "");
  const configFile = join(RUN, "dropship.yml");
  // The demo's pushes are gated as a team's app would be, by the app's own tests (dropship's
  // whole suite starts emulators of its own; its unit tests gate the guide's pushes,
  // docs/digitalocean.md). The autoscaler is on where droplets have their own CPU
  // (demoAutoscale). Self-healing is on, with a demo-sized silence; with --ha the proxies trust
  // the load balancer's X-Forwarded-For and PROXY protocol header from the emulator's VPC, so
  // the app sees HTTPS visitors' addresses.
  writeFileSync(
    configFile,
    [
      "name: demo",
      `roles: { proxy: { count: ${ha ? 2 : 1} }, redis: { count: ${ha ? 2 : 1} }, production: { count: 2 }, staging: { count: 1 } }`,
      ...autoscale.config,
      "heal: { after: 30s }",
      `pipeline: { test: { master: ${APP_TESTS}, staging: ${APP_TESTS} }, health_timeout: 30s }`,
      `gitops: { repo: ${JSON.stringify(gitopsDir)} }`,
      `proxy: { ${ha ? `trusted_proxies: [${EMULATOR.private.prefix}.0.0/16], proxy_protocol: true, ` : ""}tls: { domains: [${DOMAIN}], email: ops@${DOMAIN}, acme_directory: ${JSON.stringify(pebble.directory)} } }`,
      "",
    ].join("\n"),
  );
  const config = parseConfigText(configFile, readFileSync(configFile, "utf8"));
  const keyFile = join(RUN, "id");
  const knownHostsFile = join(RUN, "known_hosts");
  run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dropship-demo", "-f", keyFile]);
  writeFileSync(knownHostsFile, "");
  const settings: SetupSettings = {
    config,
    provider,
    repo: new InventoryRepo(gitopsDir),
    work,
    keyFile,
    knownHostsFile,
    usersFile: join(RUN, "users"),
    secrets: {},
    configFile,
    pollMs: 100,
  };

  const sha = run(["git", "-C", ROOT, "rev-parse", "HEAD"]).trim();
  const staging = `${releaseVersion(sha)}-canary`;
  const { fleet, redisUrl } = await bringUp(settings, {
    adminToken,
    redisPassword,
    commit: sha,
    releases: { production: releaseVersion(sha), staging },
    repos: join(RUN, "repos"),
    step,
    tlsEnv,
    say: (line) => process.stdout.write(`\n  ${line}`),
  });
  const caFile = join(RUN, "ca.pem");
  writeFileSync(caFile, await pebbleRoot(pebble));
  // visitors come in at the public entry (the load balancer with --ha); the admin listener
  // answers the control host in the VPC
  const proxyUrl = `http://${entryOf(fleet)}`;
  // the admin listener has the site's certificate too: its private address with the site's name
  const dashboardUrl = `https://${addressOf(fleet, "proxy")}:${ADMIN_PORT}/_dropship/`;

  await step("dropship-receiver");
  const receiverPort = freePort();
  const receiverEnv = {
    DROPSHIP_ADMIN_TOKEN: adminToken,
    DROPSHIP_REPOS: join(RUN, "repos"),
    DROPSHIP_WORK: work,
    DROPSHIP_CONFIG: configFile,
    REDIS_URL: redisUrl,
    DROPSHIP_GITOPS_REPO: gitopsDir,
    DROPSHIP_SSH_KEY: join(RUN, "id"),
    DROPSHIP_KNOWN_HOSTS: join(RUN, "known_hosts"),
    DROPSHIP_USERS_FILE: join(RUN, "users"),
    DIGITALOCEAN_TOKEN: apiToken,
    DIGITALOCEAN_API_URL: apiUrl,
    ...tlsEnv,
  };
  record(
    startDaemon(
      [process.execPath, join(ROOT, "server/receiver/main.ts")],
      { PORT: String(receiverPort), HOST: "127.0.0.1", ...receiverEnv },
      join(RUN, "receiver.log"),
    ),
  );
  await waitForHttp(`http://127.0.0.1:${receiverPort}/healthz`, 15_000, "dropship-receiver");
  const gitRemote = `http://demo:${demoToken}@127.0.0.1:${receiverPort}/app.git`;
  await waitForHttp(`${proxyUrl}/_dropship/healthz`, 10_000, "dropship-proxy");
  const total = ((performance.now() - started) / 1000).toFixed(1);
  await step(`up in ${total} s\n`);

  const env = {
    PROXY_URL: proxyUrl,
    DROPSHIP_DOMAIN: DOMAIN,
    HTTPS_URL: `https://${DOMAIN}`,
    DROPSHIP_CA_FILE: caFile,
    DASHBOARD_URL: dashboardUrl,
    GIT_REMOTE: gitRemote,
    GITOPS_REPO: gitopsDir,
    ...receiverEnv,
  };
  writeFileSync(
    ENV_FILE,
    `${Object.entries(env)
      // quoted where a shell would read it otherwise (a redis-sentinel:// URL has & in it)
      .map(([name, value]) => `${name}=${/^[\w./:@%+,=-]*$/.test(value) ? value : `'${value}'`}`)
      .join("\n")}\n`,
    { mode: 0o600 },
  );
  console.log(`
dropship demo is up: ${fleet.hosts.map((h) => `${h.name} ${h.address}${h.publicAddress ? ` (public ${h.publicAddress})` : ""}`).join(", ")}.${fleet.loadBalancerIp ? `\nThe load balancer demo-proxies (${fleet.loadBalancerIp}) is the public entry, in front of both proxies; a droplet that dies is replaced (bun run status shows it).` : ""}

  site         https://${DOMAIN}/   (30% of new visitors see staging, ${staging}; plain HTTP redirects)
               curl --cacert ${caFile} --resolve ${DOMAIN}:443:${entryOf(fleet)} https://${DOMAIN}/
  dashboard    https://${DOMAIN}:${ADMIN_PORT}/_dropship/   (user demo, password ${demoToken}; or the admin token)
               from this machine, in the VPC: ${DOMAIN} is ${addressOf(fleet, "proxy")} there (--resolve ${DOMAIN}:${ADMIN_PORT}:${addressOf(fleet, "proxy")})
  admin token  ${adminToken}   (made up for this demo; nowhere else)

Push to it from this checkout:

  git remote add demo ${gitRemote}
  git push demo HEAD:master        # tested, built and rolled out to both production droplets

Everything else reads ${ENV_FILE}: set -a; . ${ENV_FILE}; set +a
then bun run status, bun run flags set disableSET on, bun run scale --dry-run, bun run canary weight 50,
bun run maintenance on.`);
}

async function down() {
  const pids = readPids();
  // the emulator, stopped with SIGTERM, deletes every droplet: processes, sshd, namespace
  await stopAll(pids, 15_000);
  rmSync(RUN, { recursive: true, force: true });
  rmSync(ENV_FILE, { force: true });
  const left = run(["ip", "netns", "list"])
    .split("\n")
    .filter(
      (line) =>
        line.startsWith(EMULATOR.hostNamespacePrefix) ||
        line.startsWith(EMULATOR.balancerNamespacePrefix),
    );
  if (left.length > 0)
    throw new UsageError(
      `stopped the demo, but these namespaces are left: ${left.join(", ")} — the next emulator start removes them`,
    );
  console.log(
    pids.length > 0 ? `stopped ${pids.length} processes; no droplet left` : "no demo was running",
  );
}

function readPids(): number[] {
  if (!existsSync(PIDS)) return [];
  try {
    return JSON.parse(readFileSync(PIDS, "utf8")) as number[];
  } catch {
    return [];
  }
}
