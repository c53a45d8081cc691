import { afterAll, expect, test } from "bun:test";
import { readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import Redis from "ioredis";
import type { FleetHostRecord } from "../gitops/model.ts";
import { InventoryRepo } from "../gitops/repo.ts";
import { EMULATOR } from "../server/emulator/this-network.ts";
import { DigitalOcean } from "../server/shared/cloud/digitalocean.ts";
import { runAsync } from "../server/shared/proc.ts";
import { readAudit } from "../server/shared/state/audit.ts";
import { BUILD_CACHE_ENV } from "./helpers/build-cache.ts";
import { startEmulator } from "./helpers/emulator.ts";
import { reaches, startOutsider } from "./helpers/outsider.ts";
import { track, waitForLine } from "./helpers/processes.ts";
import { eventually } from "./helpers/server.ts";
import { fileTempDir } from "./helpers/tmp.ts";

// docs/digitalocean.md, followed as written by a new user on a fresh clone, against the
// emulator standing in for DigitalOcean. Its fenced blocks are run as they are; the test only
// does what the page asks the reader to do by hand (type the token, edit the config, commit).
// Then, on the fleet the guide's `bun run setup` made, what setup promises (firewalls, a second
// run that only completes, fleet.env) and the commands run on it (users, exec, logs, upgrade):
// one fleet for both stories, since bringing one up is most of what either costs.
const ROOT = resolve(import.meta.dir, "..");
const GUIDE = readFileSync(join(ROOT, "docs/digitalocean.md"), "utf8");
const blocks = [...GUIDE.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);

const emulator = await startEmulator();
const home = fileTempDir("dropship-guide-");
const clone = join(home, "app");
const askpass = join(home, "askpass");
const env = {
  // step 1's `export PATH=…`; the rest of step 1 (npm test) is what this suite is
  PATH: `${clone}/node_modules/.bin:${process.env.PATH}`,
  HOME: home,
  // the one difference from the cloud: where the API is
  DIGITALOCEAN_API_URL: emulator.apiUrl,
  // the password prompt of `git push`, answered as the reader would: DROPSHIP_ADMIN_TOKEN
  GIT_ASKPASS: askpass,
  // the package cache of this machine, so the push gate's install need not download again
  BUN_INSTALL_CACHE_DIR: join(process.env.HOME ?? "/root", ".bun/install/cache"),
  // and the run's build cache, for setup's build of the commit the demos built already
  ...BUILD_CACHE_ENV,
};

async function runBlock(index: number, stdin = "") {
  const argv = ["bash", "-e", "-o", "pipefail", "-c", blocks[index] as string];
  const { code, stdout, stderr } = await runAsync(argv, { cwd: clone, env, stdin });
  return { code, out: stdout, err: stderr };
}

/** One of the clone's scripts, run in the clone as the reader would with `bun run`. */
async function dropship(script: string, args: string[] = [], more: Record<string, string> = {}) {
  const argv = [process.execPath, join(clone, "scripts", `${script}.ts`), ...args];
  const { code, stdout, stderr } = await runAsync(argv, { cwd: clone, env: { ...env, ...more } });
  return { code, out: stdout, err: stderr };
}

const config = join(clone, "dropship.yml");
const fleetEnvFile = join(clone, ".dropship/fleet.env");
/** What the verbatim run found, for the tests that go on from it on the same fleet. */
let guided: { setupOut: string; proxy: string } | undefined;
function fleetUp() {
  if (!guided)
    throw new Error("the guide's fleet is not up: the test that follows the guide failed");
  return guided;
}

const git = (...args: string[]) =>
  Bun.spawnSync(["git", "-C", clone, "-c", "user.name=Ann", "-c", "user.email=ann@shop", ...args]);

test("the guide has the blocks this test follows, in order", () => {
  expect(blocks).toHaveLength(8);
  expect(blocks[0]).toContain("npm test");
  expect(blocks[0]).toContain('export PATH="$PWD/node_modules/.bin:$PATH"');
  expect(blocks[1]).toContain("cat >> .env <<END");
  expect(blocks[2]).toBe("cp dropship.example.yml dropship.yml\n");
  expect(blocks[3]).toBe("bun run config\n");
  expect(blocks[4]).toContain("bun run setup\n");
  expect(blocks[5]).toBe("bun run receiver\n");
  expect(blocks[6]).toContain("git push prod main");
  expect(blocks[7]).toContain("bun run status");
});

test("docs/digitalocean.md takes a fresh clone to a deployed fleet, verbatim", async () => {
  Bun.spawnSync(["git", "clone", "-q", ROOT, clone]);
  git("checkout", "-q", "-B", "main");
  symlinkSync(join(ROOT, "node_modules"), join(clone, "node_modules"));
  writeFileSync(askpass, `#!/bin/sh\nsed -n 's/^DROPSHIP_ADMIN_TOKEN=//p' ${clone}/.env\n`, {
    mode: 0o755,
  });

  // 2. the token is typed at the prompt
  const secrets = await runBlock(1, `${emulator.token}\n`);
  expect(secrets.err).toBe(""); // bash prompts only on a terminal
  expect(secrets.code).toBe(0);
  const dotEnv = readFileSync(join(clone, ".env"), "utf8");
  expect(dotEnv).toContain(`DIGITALOCEAN_TOKEN=${emulator.token}\n`);
  expect(dotEnv).toMatch(/^DROPSHIP_ADMIN_TOKEN=[0-9a-f]{32}$/m);

  // 3. the config, with one value changed as the reader would
  expect((await runBlock(2)).code).toBe(0);
  const example = readFileSync(config, "utf8");
  expect(example).toContain("  max: 4 #");
  writeFileSync(config, example.replace("  max: 4 #", "  max: 3 #"));
  const checked = await runBlock(3);
  expect(checked.code).toBe(0);
  expect(checked.out).toContain("max: 3");

  // 4. the fleet
  const setup = await runBlock(4);
  expect(setup.err).toBe("$ bun scripts/setup.ts --dry-run\n$ bun scripts/setup.ts\n");
  expect(setup.code).toBe(0);
  expect(setup.out).toContain(`config: ${config}`);
  const proxy = /✓ dropship is up: (http:\/\/[\d.]+)\//.exec(setup.out)?.[1] as string;
  expect(proxy).toBeTruthy();
  const sha = git("rev-parse", "--short=12", "HEAD").stdout.toString().trim();
  // both tracks run this checkout's commit
  expect(await (await fetch(`${proxy}/`)).text()).toMatch(
    new RegExp(`^Hello from dropship (production|staging) ${sha} on dropship-\\1-\\d\n$`),
  );
  // the receiver's repository starts at the running commit: the push below builds on it
  const seeded = Bun.spawnSync([
    "git",
    "--git-dir",
    join(clone, ".dropship/repos/app.git"),
    "rev-parse",
    "--short=12",
    "master",
  ]);
  expect(seeded.stdout.toString().trim()).toBe(sha);

  // 5. the receiver, kept running, applies the changed value
  const receiver = track(
    Bun.spawn(["bash", "-c", `exec ${blocks[5]}`], {
      cwd: clone,
      env,
      stdout: "pipe",
      stderr: "inherit",
    }),
  );
  afterAll(async () => {
    receiver.kill("SIGTERM");
    await receiver.exited;
  }, 30_000);
  const started = await waitForLine(receiver.stdout, /autoscaler o/, 30_000, "the receiver");
  expect(started).toContain(`dropship-receiver: config: ${config}\n`);
  expect(started).toContain("autoscaler on (proxy_cpu, 2–3 hosts)");

  // a new commit on main, pushed as the page says, then the canary
  writeFileSync(join(clone, "CHANGES.md"), "- the first change shipped with dropship\n");
  git("add", "CHANGES.md");
  git("commit", "-q", "-m", "A first change");
  const commit = git("rev-parse", "--short=12", "HEAD").stdout.toString().trim();
  const pushed = await runBlock(6);
  // the push's own output when it fails, so the failure says why
  expect({ code: pushed.code, tail: pushed.code === 0 ? "" : pushed.err.slice(-4000) }).toEqual({
    code: 0,
    tail: "",
  });
  expect(pushed.err).toContain(`✓ ${commit} is live on production`);
  expect(pushed.err).toContain(`✓ ${commit} is live on staging`);
  const fleetEnv = readFileSync(fleetEnvFile, "utf8");
  expect(/^PROXY_URL=(\S+)$/m.exec(fleetEnv)?.[1]).toBe(proxy);
  // both tracks run the new commit now, so any visitor sees it
  const answer = await (await fetch(`${proxy}/`)).text();
  expect(answer).toContain(`Hello from dropship`);
  expect(answer).toContain(commit);

  // 6. running it, with nothing else set
  const ran = await runBlock(7);
  expect(ran.err).not.toContain("dropship status:");
  expect(ran.code).toBe(0);
  expect(ran.out).toMatch(/dropship-production-1\s+production\s+[\d.]+\s+\w{12}/);
  expect(ran.out).toContain("disableSET");
  // the Redis droplet holds at most half its 1 GB, and says what gives way when full
  expect(ran.out).toMatch(
    /^REDIS {3}[\d.]+ MiB of 5\d\d\.\d MiB \(\d+%\), volatile-lru; \d+ keys? given up so far$/m,
  );
  expect(ran.out).toMatch(/^BACKUPS none in \S+\/\.dropship\/backups — bun run backup takes one$/m);
  expect(ran.out).toMatch(/canary.*30%/i);
  expect(ran.out).toMatch(/^dropship-production-\d app\s+\| \S+Z /m);
  expect(ran.out).toMatch(/load average/);

  // the later tests go on from here, with no receiver: none of them pushes
  receiver.kill("SIGTERM");
  expect(await receiver.exited).toBe(0);
  guided = { setupOut: setup.out, proxy };
}, 600_000);

/** The fleet as the GitOps inventory has it, by host name. */
async function inventoryHosts(): Promise<Record<string, FleetHostRecord>> {
  const inventory = await new InventoryRepo(join(clone, ".dropship/inventory")).read();
  return Object.fromEntries(inventory.hosts.map((h) => [h.name, h]));
}
const dropletNs = (h: FleetHostRecord) => `${EMULATOR.hostNamespacePrefix}${h.dropletId}`;

test("setup's fleet: only the proxy faces the internet; the rest answers the control host, privately", async () => {
  const { setupOut, proxy } = fleetUp();
  const hosts = await inventoryHosts();
  expect(Object.values(hosts).map((h) => `${h.name} ${h.role}`)).toEqual([
    "dropship-proxy-1 proxy",
    "dropship-redis-1 redis",
    "dropship-production-1 production",
    "dropship-production-2 production",
    "dropship-staging-1 staging",
  ]);
  const [proxyHost, redisHost, webHost, canaryHost] = [
    "dropship-proxy-1",
    "dropship-redis-1",
    "dropship-production-1",
    "dropship-staging-1",
  ].map((name) => hosts[name]) as [
    FleetHostRecord,
    FleetHostRecord,
    FleetHostRecord,
    FleetHostRecord,
  ];
  for (const h of Object.values(hosts)) {
    expect(h.address.startsWith(`${EMULATOR.private.prefix}.`)).toBe(true);
    expect(h.publicAddress?.startsWith(`${EMULATOR.public.prefix}.`)).toBe(true);
  }
  expect(proxy).toBe(`http://${proxyHost.publicAddress}`);

  // the cloud firewalls: a stranger (on the public network) reaches the proxy's port 80 and
  // nothing else of the fleet; this machine (the control host, in the VPC) reaches SSH, the
  // monitors, the admin port and Redis at their private addresses
  const outsider = startOutsider();
  expect(reaches(outsider.ns, proxyHost.publicAddress as string, 80)).toBe(true);
  const closed: [FleetHostRecord, number][] = [
    [proxyHost, 22],
    [proxyHost, 9090],
    [proxyHost, 9100],
    [webHost, 3000],
    [webHost, 9100],
    [webHost, 22],
    [canaryHost, 3000],
    [redisHost, 6379],
  ];
  for (const [h, port] of closed) {
    const ip = h.publicAddress as string;
    expect({ ip, port, open: reaches(outsider.ns, ip, port) }).toEqual({ ip, port, open: false });
  }
  for (const [h, port] of [...closed, [proxyHost, 80]] as [FleetHostRecord, number][]) {
    const ip = h.address;
    expect({ ip, port, open: reaches(undefined, ip, port) }).toEqual({ ip, port, open: true });
  }
  // the second layer: apps, monitors and Redis listen on the private address only, so even
  // where the firewall lets the control host in, the public address answers nothing
  for (const [h, port] of [
    [webHost, 3000],
    [webHost, 9100],
    [redisHost, 6379],
  ] as [FleetHostRecord, number][]) {
    const ip = h.publicAddress as string;
    expect({ ip, port, open: reaches(undefined, ip, port) }).toEqual({ ip, port, open: false });
  }
  // inside the fleet, the app answers the proxy and not the Redis host
  expect(reaches(dropletNs(proxyHost), webHost.address, 3000)).toBe(true);
  expect(reaches(dropletNs(redisHost), webHost.address, 3000)).toBe(false);
  // ufw on the droplet is the coarser second layer: the VPC (where proxies come and go) and the
  // control host; with the cloud firewall's table taken away for a moment, the proxy still
  // reaches the app and the internet still does not
  const inWeb = (...argv: string[]) =>
    Bun.spawnSync(["ip", "netns", "exec", dropletNs(webHost), ...argv], { stdout: "pipe" });
  const ufwRules = inWeb("iptables", "-S", "ufw-user-input").stdout.toString();
  expect(ufwRules).toContain(
    `-A ufw-user-input -s ${EMULATOR.private.prefix}.0.0/16 -p tcp -m tcp --dport 3000 -j ACCEPT`,
  );
  // one rule per source, its ports listed (SSH, the monitor and the app from the control host)
  expect(ufwRules).toContain(
    `-A ufw-user-input -s ${EMULATOR.private.gateway}/32 -p tcp -m multiport --dports 22,3000,9100 -j ACCEPT`,
  );
  const cloudTable = inWeb("nft", "list", "table", "inet", "dropship_firewall").stdout.toString();
  expect(cloudTable).toContain("dport 3000");
  inWeb("nft", "delete", "table", "inet", "dropship_firewall");
  try {
    expect(reaches(dropletNs(proxyHost), webHost.address, 3000)).toBe(true);
    expect(reaches(outsider.ns, webHost.publicAddress as string, 22)).toBe(false);
  } finally {
    Bun.spawnSync(["ip", "netns", "exec", dropletNs(webHost), "nft", "-f", "-"], {
      stdin: new TextEncoder().encode(cloudTable),
    });
  }
  const firewalls = (await (
    await fetch(`${emulator.apiUrl}/firewalls`, {
      headers: { authorization: `Bearer ${emulator.token}` },
    })
  ).json()) as { firewalls: { name: string; tags: string[] }[] };
  expect(firewalls.firewalls.map((f) => `${f.name} ${f.tags}`).sort()).toEqual([
    "dropship-production dropship:production",
    "dropship-proxy dropship:proxy",
    "dropship-redis dropship:redis",
    "dropship-staging dropship:staging",
  ]);

  // what the other commands need is written once, 0600, beside the config, and said; the
  // secrets in it are not
  expect(statSync(fleetEnvFile).mode & 0o777).toBe(0o600);
  const dotEnv = readFileSync(join(clone, ".env"), "utf8");
  const redisPassword = /^DROPSHIP_REDIS_PASSWORD=(\S+)$/m.exec(dotEnv)?.[1] as string;
  expect(readFileSync(fleetEnvFile, "utf8")).toContain(
    `REDIS_URL=redis://control:${redisPassword}@`,
  );
  expect(setupOut).toContain(
    `${fleetEnvFile}: the Redis URL, the proxy's URLs and the known hosts`,
  );
  expect(setupOut).not.toContain(redisPassword);
  expect(setupOut).not.toContain("$DROPSHIP_ADMIN_TOKEN");
  // and the lines that push this checkout, for the branch it is on
  expect(setupOut).toMatch(/git remote add prod http:\/\/you@\S+:9000\/app\.git\n/);
  expect(setupOut).toContain("git push prod main\n");
  // the first converge changed every host, and said so
  expect(setupOut).toMatch(
    /^ {2}5 hosts configured: \d+ changes \(dropship-redis-1 \d+, dropship-proxy-1 \d+, dropship-production-1 \d+, dropship-production-2 \d+, dropship-staging-1 \d+\)$/m,
  );
}, 60_000);

test("bun run setup again only completes what is there", async () => {
  const { proxy } = fleetUp();
  const second = await dropship("setup");
  expect({ code: second.code, err: second.err }).toEqual({ code: 0, err: "" });
  expect(second.out).toContain("every role has its hosts (5 in the inventory)");
  expect(second.out).not.toContain("▸ create");
  // the playbooks converge again, and are idempotent: the hosts are as the first run left them
  expect(second.out).toContain("  5 hosts as configured already: nothing changed\n");
  const provider = new DigitalOcean({ token: emulator.token, apiUrl: emulator.apiUrl });
  expect((await provider.listByTag("dropship")).length).toBe(5);
  expect(await (await fetch(`${proxy}/`)).text()).toStartWith("Hello from dropship");
}, 180_000);

test("a named user, exec and logs on the fleet, each audited as its actor", async () => {
  fleetUp();
  const hosts = await inventoryHosts();
  const proxyHost = hosts["dropship-proxy-1"] as FleetHostRecord;
  // a named user added on the control host can use the proxy's admin API within seconds, as
  // themselves, and not once removed
  const added = await dropship("users", ["add", "ann"]);
  expect(added).toMatchObject({ code: 0, err: "" });
  expect(added.out).toContain("dropship-proxy-1: has the new list");
  const annToken = /^ {2}([0-9a-f]{64})$/m.exec(added.out)?.[1] as string;
  const adminApi = `http://${proxyHost.address}:9090/_dropship`; // from the VPC
  const asAnn = { authorization: `Bearer ${annToken}` };
  await eventually(
    async () => (await fetch(`${adminApi}/status`, { headers: asAnn })).status === 200,
    5000,
    "ann's token accepted by the proxy",
  );
  const flip = await fetch(`${adminApi}/canary`, {
    method: "PUT",
    headers: { ...asAnn, "content-type": "application/json" },
    body: JSON.stringify({ weight: 25 }),
  });
  expect(flip.status).toBe(200);
  expect((await dropship("users", ["remove", "ann"])).code).toBe(0);
  await eventually(
    async () => (await fetch(`${adminApi}/status`, { headers: asAnn })).status === 401,
    5000,
    "ann's token refused once removed",
  );

  // a command on one host and the logs of a role, as ann
  const asActor = { DROPSHIP_ACTOR: "ann@shop" };
  const hostname = await dropship(
    "exec",
    ["dropship-production-1", "--", "hostname;", "exit 3"],
    asActor,
  );
  expect(hostname).toEqual({ code: 3, out: "dropship-production-1\n", err: `config: ${config}\n` });
  const audit = await dropship(
    "exec",
    ["dropship-production-1", "--", "cat /srv/dropship/audit.log"],
    asActor,
  );
  // after the guide's own `bun run logs` and `bun run exec` as this machine's user
  expect(audit.out).toMatch(
    /^\S+Z logs by \S+: read the logs of dropship-production-1, dropship-production-2 \(since 10m\)\n\S+Z exec by \S+: uptime\n\S+Z exec by ann@shop: hostname; exit 3\n\S+Z exec by ann@shop: cat \/srv\/dropship\/audit.log\n$/,
  );
  // a secret this machine knows is never written into the audit, though the command ran with it
  const redisPassword = /^DROPSHIP_REDIS_PASSWORD=(\S+)$/m.exec(
    readFileSync(join(clone, ".env"), "utf8"),
  )?.[1] as string;
  const secretive = await dropship(
    "exec",
    ["dropship-production-1", "--", `echo ${redisPassword} | wc -c`],
    asActor,
  );
  expect(secretive.out.trim()).toBe(String(redisPassword.length + 1));
  const audited = (
    await dropship(
      "exec",
      ["dropship-production-1", "--", "tail -n 2 /srv/dropship/audit.log"],
      asActor,
    )
  ).out;
  expect(audited).toContain("exec by ann@shop: echo **** | wc -c");
  expect(audited).not.toContain(redisPassword);
  // --app: as the app runs, in its release, as its user, with its settings
  const asTheApp = await dropship(
    "exec",
    [
      "--app",
      "dropship-production-1",
      "--",
      'id -un; pwd -P; test -n "$REDIS_URL" && echo has-its-settings',
    ],
    asActor,
  );
  expect(asTheApp).toMatchObject({ code: 0, err: `config: ${config}\n` });
  expect(asTheApp.out).toMatch(/^dropship\n\/srv\/dropship\/releases\/\w{12}\nhas-its-settings\n$/);
  expect((await dropship("exec", ["--app", "dropship-proxy-1", "--", "true"])).err).toContain(
    "dropship-proxy-1 is a proxy host, where the app does not run",
  );
  expect((await dropship("exec", ["production", "--", "true"], asActor)).err).toContain(
    "production is a role; name one of its hosts: dropship-production-1, dropship-production-2",
  );
  const logs = await dropship("logs", ["production", "--since", "10m"], asActor);
  expect(logs.code).toBe(0);
  // every line of the app's log carries its time, and comes prefixed by host and service
  for (const host of ["dropship-production-1", "dropship-production-2"])
    expect(logs.out).toMatch(
      new RegExp(
        `^${host} app {5}\\| \\S+Z dropship-app \\w{12} \\(production\\) listening on`,
        "m",
      ),
    );
  expect(logs.out).toMatch(/^dropship-production-1 monitor \| \S+Z dropship-monitor/m);
  expect(logs.out).not.toContain("dropship-proxy-1");
  // the monitors run on the deployment's thresholds, handed over by the control host
  expect(logs.out).toContain(
    "dropship-monitor: config: the deployment's, from the control host (DROPSHIP_MONITOR_SETTINGS)",
  );
  expect(logs.out).toMatch(
    /dropship-monitor \w{12} \(production\) listening on .* — cpu > 50% for/,
  );
  expect((await dropship("logs", ["web-9"])).err).toContain('"web-9" is neither a role');
  // -f follows: the app's lines after it started come through, prefixed: here its next start
  const follow = Bun.spawn(
    [process.execPath, join(clone, "scripts/logs.ts"), "dropship-production-1", "-f", "-n", "0"],
    { cwd: clone, env, stdout: "pipe", stderr: "pipe" },
  );
  try {
    await Bun.sleep(1500); // its journalctl -f runs on the host
    await dropship("exec", ["dropship-production-1", "--", "systemctl restart dropship-app"]);
    const followed = await waitForLine(
      follow.stdout,
      /\(production\) listening on/,
      15_000,
      "bun run logs -f",
    );
    expect(followed).toMatch(
      /^dropship-production-1 app {5}\| \S+Z dropship-app \w{12} \(production\) listening on/m,
    );
  } finally {
    follow.kill("SIGINT");
    expect(await follow.exited).toBe(0);
  }
  const redisUrl = /REDIS_URL=(\S+)/.exec(readFileSync(fleetEnvFile, "utf8"))?.[1] as string;
  const redis = new Redis(redisUrl);
  try {
    const kinds = (await readAudit(redis, { limit: 20 })).map(
      (e) => `${e.kind} ${e.target} ${e.actor}`,
    );
    // the change made with ann's token is ann's, wherever she came from; before it, the
    // receiver's when the guide's push shipped the canary
    expect(kinds.filter((k) => k.startsWith("canary ")).map((k) => k.split(" ")[2])).toEqual([
      expect.stringMatching(/^ann@/),
      "dropship-receiver",
    ]);
    expect(kinds).toContain("exec dropship-production-1 ann@shop");
    expect(kinds).toContain("logs production ann@shop");
  } finally {
    redis.disconnect();
  }
}, 120_000);

test("bun run backup reads setup's Redis droplet; bun run restore puts a flag back from it", async () => {
  fleetUp();
  const hosts = await inventoryHosts();
  const redisHost = hosts["dropship-redis-1"] as FleetHostRecord;
  expect((await dropship("flags", ["set", "disableSET", "off"])).code).toBe(0);
  const taken = await dropship("backup");
  expect(taken.err).toBe("");
  expect(taken.code).toBe(0);
  // the Redis droplet's own ACL and firewall let the control user take it, and at once
  expect(taken.out).toMatch(new RegExp(`^  Redis at ${redisHost.address}:6379: \\d+ keys, `, "m"));
  const head =
    (await new InventoryRepo(join(clone, ".dropship/inventory")).history(1))[0]?.sha ?? "";
  expect(taken.out).toContain(`  GitOps inventory at ${head.slice(0, 7)}: `);
  const set = /^backup (\S+) → /.exec(taken.out)?.[1] as string;
  const status = await dropship("status");
  expect(status.out).toMatch(/^BACKUPS newest \S+Z \(\d min ago\), 1 kept in \S+$/m);

  expect((await dropship("flags", ["set", "disableSET", "on"])).code).toBe(0);
  const restored = await dropship("restore", [set, "--yes"]);
  expect(restored.err).toBe("");
  expect(restored.out).toContain("  flags: disableSET on → off\n");
  expect(restored.out).toContain("  GitOps inventory: as in the set");
  expect((await dropship("flags", ["list"])).out).toMatch(/disableSET\s+off\s/);
}, 60_000);

test("bun run upgrade: nothing changed is nothing restarted; a changed proxy is handed over under load", async () => {
  const { proxy } = fleetUp();
  const hosts = await inventoryHosts();
  const proxyHost = hosts["dropship-proxy-1"] as FleetHostRecord;
  const same = await dropship("upgrade");
  expect(same.err).toBe(`config: ${config}\n`);
  expect(same.out).toContain(
    "  dropship-proxy-1: proxy and monitor unchanged\n  dropship-redis-1: monitor unchanged\n",
  );
  expect(same.code).toBe(0);
  // a change to the proxy's code, committed in this checkout: handed over under load with no
  // failed request
  const main = join(clone, "server/proxy/main.ts");
  writeFileSync(
    main,
    readFileSync(main, "utf8").replace("listening on http", "listening (upgraded) on http"),
  );
  // the guide's dropship.yml is untracked, and did not hold the upgrade up; a change to a tracked
  // file not yet committed does
  const uncommitted = await dropship("upgrade");
  expect(uncommitted.code).not.toBe(0);
  expect(uncommitted.err).toContain(
    `${clone} has uncommitted changes — commit them first, so the release names the code it runs`,
  );
  git("commit", "-qam", "proxy: a new listening line");
  const upgradedTo = git("rev-parse", "--short=12", "HEAD").stdout.toString().trim();
  let running = true;
  const failures: string[] = [];
  let served = 0;
  // each served request's id, looked for in the access log after the handover
  const servedIds: string[] = [];
  const upgradeStarted = performance.now();
  const load = [...Array(8)].map(async (_, i) => {
    for (let n = 0; running; n++) {
      const id = `guide-load-${i}-${n}`;
      const headers: Record<string, string> = { "x-request-id": id };
      if (i % 2) headers.connection = "close";
      const response = await fetch(`${proxy}/`, { headers }).catch((e: Error) => e);
      const at = `${((performance.now() - upgradeStarted) / 1000).toFixed(2)} s`;
      if (response instanceof Error) failures.push(`${at}: ${response.message}`);
      else if (response.status !== 200) failures.push(`${at}: HTTP ${response.status}`);
      else {
        served++;
        servedIds.push(id);
      }
      if (!(response instanceof Error)) await response.arrayBuffer().catch(() => undefined);
    }
  });
  const countersBefore = resetCounters(dropletNs(proxyHost));
  const upgrade = await dropship("upgrade");
  await Bun.sleep(300);
  running = false;
  await Promise.all(load);
  expect(upgrade.out).toMatch(
    new RegExp(`  dropship-proxy-1: proxy handed over on ${upgradedTo} \\(`),
  );
  expect(upgrade.out).toContain("  dropship-redis-1: monitor unchanged\n");
  expect(upgrade.code).toBe(0);
  // a failure here has been seen once in ~10 runs and not reproduced: say what the droplet's
  // kernel counted, and when the proxies started and stopped, for the one who meets it next
  if (failures.length > 0) {
    const after = resetCounters(dropletNs(proxyHost));
    const counted = Object.entries(after).map(
      ([name, n]) => `${name} +${n - (countersBefore[name] ?? 0)}`,
    );
    const proxyLog = await dropship("logs", ["dropship-proxy-1", "--since", "5m"]);
    console.log(
      `guide test: ${failures.length} requests failed while the proxy was handed over (seconds after the upgrade began): ${failures.join("; ")}\n` +
        `  the proxy droplet's TCP counters meanwhile: ${counted.join(", ")}\n` +
        `  the end of its log:\n${proxyLog.out.split("\n").slice(-30).join("\n")}`,
    );
  }
  expect(failures).toEqual([]);
  expect(served).toBeGreaterThan(50);
  const health = (await (await fetch(`${proxy}/_dropship/healthz`)).json()) as { version: string };
  expect(health.version).toBe(upgradedTo);
  const proxyLog = await dropship("logs", ["dropship-proxy-1", "--since", "5m"]);
  expect(proxyLog.out).toContain(`dropship-proxy ${upgradedTo} listening (upgraded) on http`);
  // the access log: every answer of the load, by the proxy handed over and by the new one, once
  const access = await dropship("logs", ["proxy", "--access", "--since", "5m", "-n", "1000000"]);
  expect(access.code).toBe(0);
  const loggedIds = access.out
    .split("\n")
    .filter((l) => / status=200 method=GET path=\/ /.test(l))
    .map((l) => / request_id=(guide-load-\S+) /.exec(l)?.[1])
    .filter((id) => id !== undefined);
  expect(loggedIds.sort()).toEqual(servedIds.sort());

  expect(access.out).toMatch(/^dropship-proxy-1 access \| \S+Z status=200 method=GET path=\/ /m);
}, 180_000);

/**
 * A network namespace's TCP counters that tell where a reset came from: a listener's queue
 * dropped or not handed over (migrated) on close, or a socket closed with data unread.
 */
function resetCounters(namespace: string): Record<string, number> {
  const names = [
    "TcpOutRsts",
    "TcpEstabResets",
    "TcpExtListenDrops",
    "TcpExtListenOverflows",
    "TcpExtTCPAbortOnClose",
    "TcpExtTCPAbortOnData",
    "TcpExtTCPMigrateReqSuccess",
    "TcpExtTCPMigrateReqFailure",
  ];
  // -a absolute, -s without the history file nstat keeps otherwise, -z zeros too
  const out = Bun.spawnSync(["ip", "netns", "exec", namespace, "nstat", "-asz", ...names], {
    stdout: "pipe",
  }).stdout.toString();
  return Object.fromEntries(
    out
      .split("\n")
      .map((line) => line.split(/\s+/))
      .filter(([name, value]) => name && names.includes(name) && value)
      .map(([name, value]) => [name as string, Number(value)]),
  );
}
