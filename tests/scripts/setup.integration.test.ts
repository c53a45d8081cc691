import { expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import Redis from "ioredis";
import type { FleetHostRecord } from "../../gitops/model.ts";
import { InventoryRepo } from "../../gitops/repo.ts";
import { DigitalOcean } from "../../server/shared/cloud/digitalocean.ts";
import { runAsync } from "../../server/shared/proc.ts";
import { readAudit } from "../../server/shared/state/audit.ts";
import { BUILD_CACHE_ENV } from "../helpers/build-cache.ts";
import { startEmulator, userKey } from "../helpers/emulator.ts";
import { reaches, startOutsider } from "../helpers/outsider.ts";
import { waitForLine } from "../helpers/processes.ts";
import { eventually } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";

const ROOT = resolve(import.meta.dir, "../..");

test("bun run setup brings a deployment up on the API, and a second run only completes it", async () => {
  const emulator = await startEmulator();
  const dir = tempDir("dropship-setup-");
  const account = userKey();
  writeFileSync(join(dir, "id"), account.privateKey, { mode: 0o600 });
  writeFileSync(join(dir, "id.pub"), account.publicKey);
  writeFileSync(
    join(dir, "dropship.yml"),
    `name: shop\nroles: { production: { count: 1 }, staging: { count: 0 } }\nautoscale: { min: 1 }\ngitops: { repo: ${join(dir, "inventory")} }\npipeline: { health_timeout: 30s }\nmonitor: { cpu: 70 }\n`,
  );
  const env = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "/root",
    ...BUILD_CACHE_ENV,
    DROPSHIP_CONFIG: join(dir, "dropship.yml"),
    DIGITALOCEAN_TOKEN: emulator.token,
    DIGITALOCEAN_API_URL: emulator.apiUrl,
    DROPSHIP_ADMIN_TOKEN: "setup-admin-token-0123456789",
    DROPSHIP_REDIS_PASSWORD: "setup-redis-password-0123456789",
    DROPSHIP_SSH_KEY: join(dir, "id"),
    DROPSHIP_KNOWN_HOSTS: join(dir, "known_hosts"),
    DROPSHIP_WORK: join(dir, "work"),
    DROPSHIP_REPOS: join(dir, "repos"),
    DROPSHIP_USERS_FILE: join(dir, "users"),
  };
  const setupWith = (changes: Record<string, string>, ...args: string[]) => {
    const proc = Bun.spawnSync([process.execPath, join(ROOT, "scripts/setup.ts"), ...args], {
      cwd: ROOT,
      env: { ...env, ...changes },
      stdout: "pipe",
      stderr: "pipe",
    });
    return { code: proc.exitCode, out: proc.stdout.toString(), err: proc.stderr.toString() };
  };
  const setup = (...args: string[]) => setupWith({}, ...args);

  const plan = setup("--dry-run");
  expect(plan).toEqual({
    code: 0,
    out: `config: ${join(dir, "dropship.yml")} (DROPSHIP_CONFIG)\nto create: shop-proxy-1 (s-1vcpu-1gb), shop-redis-1 (s-1vcpu-1gb), shop-production-1 (s-1vcpu-1gb)\nfleet cost: $0.0268/h (~$18/month)\n✓ SSH key ${join(dir, "id")}\n✓ DIGITALOCEAN_TOKEN works (0 droplets tagged dropship)\n`,
    err: "",
  });
  // --dry-run already finds what a real run would fail on, and says what to do
  const badToken = setupWith({ DIGITALOCEAN_TOKEN: "not-the-token" }, "--dry-run");
  expect(badToken.code).toBe(1);
  expect(badToken.err).toContain(
    "dropship setup: DigitalOcean did not accept the request with DIGITALOCEAN_TOKEN",
  );
  expect(badToken.err).not.toContain("not-the-token");
  const noKey = setupWith({ DROPSHIP_SSH_KEY: join(dir, "missing") }, "--dry-run");
  expect(noKey.code).toBe(1);
  expect(noKey.err).toContain(`no SSH key pair at ${join(dir, "missing")}(.pub)`);
  writeFileSync(join(dir, "other.pub"), userKey().publicKey);
  writeFileSync(join(dir, "other"), account.privateKey, { mode: 0o600 });
  const mismatch = setupWith({ DROPSHIP_SSH_KEY: join(dir, "other") }, "--dry-run");
  expect(mismatch.code).toBe(1);
  expect(mismatch.err).toContain(
    `${join(dir, "other")}.pub is not the public half of ${join(dir, "other")}`,
  );
  const provider = new DigitalOcean({ token: emulator.token, apiUrl: emulator.apiUrl });
  expect(await provider.listByTag("dropship")).toEqual([]);

  const first = setup();
  expect(first.err).toBe("");
  expect(first.code).toBe(0);
  const proxy = /✓ shop is up: (http:\/\/[\d.]+)\//.exec(first.out)?.[1] as string;
  expect(proxy).toBeTruthy();
  const sha = Bun.spawnSync(["git", "-C", ROOT, "rev-parse", "HEAD"]).stdout.toString().trim();
  const answer = await fetch(`${proxy}/`);
  expect(await answer.text()).toBe(
    `Hello from dropship production ${sha.slice(0, 12)} on shop-production-1\n`,
  );
  expect(first.out).not.toContain(env.DROPSHIP_REDIS_PASSWORD);
  const inventory = await new InventoryRepo(join(dir, "inventory")).read();
  expect(inventory.hosts.map((h) => `${h.name} ${h.role}`)).toEqual([
    "shop-proxy-1 proxy",
    "shop-redis-1 redis",
    "shop-production-1 production",
  ]);
  // the cloud firewalls: a stranger (on the public network) reaches the proxy's port 80 and
  // nothing else of the fleet; this machine (the control host, in the VPC) reaches SSH, the
  // monitors, the admin port and Redis at their private addresses
  const outsider = startOutsider();
  const host = (name: string) => inventory.hosts.find((h) => h.name === name) as FleetHostRecord;
  const [proxyHost, redisHost, webHost] = ["shop-proxy-1", "shop-redis-1", "shop-production-1"].map(
    host,
  ) as [FleetHostRecord, FleetHostRecord, FleetHostRecord];
  for (const h of [proxyHost, redisHost, webHost]) {
    expect(h.address).toMatch(/^10\.78\./);
    expect(h.publicAddress).toMatch(/^10\.77\./);
  }
  expect(proxy).toBe(`http://${proxyHost.publicAddress}`);
  expect(reaches(outsider.ns, proxyHost.publicAddress as string, 80)).toBe(true);
  const closed: [FleetHostRecord, number][] = [
    [proxyHost, 22],
    [proxyHost, 9090],
    [proxyHost, 9100],
    [webHost, 3000],
    [webHost, 9100],
    [webHost, 22],
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
  const dropletNs = (h: FleetHostRecord) => `dsemu-${h.dropletId}`;
  expect(reaches(dropletNs(proxyHost), webHost.address, 3000)).toBe(true);
  expect(reaches(dropletNs(redisHost), webHost.address, 3000)).toBe(false);
  // ufw on the droplet is the coarser second layer: the VPC (where proxies come and go) and the
  // control host; with the cloud firewall's table taken away for a moment, the proxy still
  // reaches the app and the internet still does not
  const inWeb = (...argv: string[]) =>
    Bun.spawnSync(["ip", "netns", "exec", dropletNs(webHost), ...argv], { stdout: "pipe" });
  const ufwRules = inWeb("iptables", "-S", "ufw-user-input").stdout.toString();
  expect(ufwRules).toContain(
    "-A ufw-user-input -s 10.78.0.0/16 -p tcp -m tcp --dport 3000 -j ACCEPT",
  );
  // one rule per source, its ports listed (SSH, the monitor and the app from the control host)
  expect(ufwRules).toContain(
    "-A ufw-user-input -s 10.78.0.1/32 -p tcp -m multiport --dports 22,3000,9100 -j ACCEPT",
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
    "shop-production dropship:production",
    "shop-proxy dropship:proxy",
    "shop-redis dropship:redis",
    "shop-staging dropship:staging",
  ]);

  // the receiver's repository starts at the running commit: the first push builds on it
  const master = Bun.spawnSync([
    "git",
    "--git-dir",
    join(dir, "repos/app.git"),
    "rev-parse",
    "master",
  ]);
  expect(master.stdout.toString().trim()).toBe(sha);

  // what the other commands need is written once, 0600, beside the config; status then works
  // with nothing but the config named
  const fleetEnv = join(dir, ".dropship/fleet.env");
  expect(statSync(fleetEnv).mode & 0o777).toBe(0o600);
  expect(readFileSync(fleetEnv, "utf8")).toContain(
    `REDIS_URL=redis://control:${env.DROPSHIP_REDIS_PASSWORD}@`,
  );
  expect(first.out).toContain(`${fleetEnv}: the Redis URL, the proxy's URLs and the known hosts`);
  // and the lines that push this checkout, for the branch it is on
  const branch = Bun.spawnSync(["git", "-C", ROOT, "branch", "--show-current"])
    .stdout.toString()
    .trim();
  expect(first.out).toMatch(/git remote add prod http:\/\/you@\S+:9000\/app\.git\n/);
  expect(first.out).toContain(
    ["master", "main"].includes(branch) ? `git push prod ${branch}\n` : "git push prod HEAD:master",
  );
  expect(first.out).not.toContain("$DROPSHIP_ADMIN_TOKEN");
  const status = Bun.spawnSync([process.execPath, join(ROOT, "scripts/status.ts")], {
    cwd: ROOT,
    env: {
      PATH: env.PATH,
      HOME: env.HOME,
      DROPSHIP_CONFIG: env.DROPSHIP_CONFIG,
      DROPSHIP_ADMIN_TOKEN: env.DROPSHIP_ADMIN_TOKEN,
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  expect(status.exitCode).toBe(0);
  expect(status.stdout.toString()).toMatch(
    /shop-production-1\s+production\s+[\d.]+\s+\w{12}\s+in rotation\s+healthy/,
  );

  const second = setup();
  expect(second.code).toBe(0);
  expect(second.out).toContain("every role has its hosts (3 in the inventory)");
  expect(second.out).not.toContain("▸ create");
  expect((await provider.listByTag("dropship")).length).toBe(3);
  expect(await (await fetch(`${proxy}/`)).text()).toContain("on shop-production-1");

  // a named user added on the control host can use the proxy's admin API within seconds, as
  // themselves, and not once removed
  const usersCli = (...args: string[]) => {
    const proc = Bun.spawnSync([process.execPath, join(ROOT, "scripts/users.ts"), ...args], {
      cwd: ROOT,
      env,
      stdout: "pipe",
      stderr: "pipe",
    });
    return { code: proc.exitCode, out: proc.stdout.toString(), err: proc.stderr.toString() };
  };
  const added = usersCli("add", "ann");
  expect(added).toMatchObject({ code: 0, err: "" });
  expect(added.out).toContain("shop-proxy-1: has the new list");
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
  expect(usersCli("remove", "ann").code).toBe(0);
  await eventually(
    async () => (await fetch(`${adminApi}/status`, { headers: asAnn })).status === 401,
    5000,
    "ann's token refused once removed",
  );

  // operating the fleet: a command on one host, the logs of a role, both audited
  // nothing but the config, the key and the work folder: the rest comes from fleet.env
  const cliEnv = {
    PATH: env.PATH,
    HOME: env.HOME,
    DROPSHIP_CONFIG: env.DROPSHIP_CONFIG,
    DROPSHIP_SSH_KEY: env.DROPSHIP_SSH_KEY,
    DROPSHIP_WORK: env.DROPSHIP_WORK,
  };
  const cli = (script: string, args: string[], cwd = ROOT) => {
    const proc = Bun.spawnSync([process.execPath, join(cwd, "scripts", script), ...args], {
      cwd,
      env: {
        ...cliEnv,
        DROPSHIP_ACTOR: "ann@shop",
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    return { code: proc.exitCode, out: proc.stdout.toString(), err: proc.stderr.toString() };
  };
  const hostname = cli("exec.ts", ["shop-production-1", "--", "hostname;", "exit 3"]);
  expect(hostname).toEqual({
    code: 3,
    out: "shop-production-1\n",
    err: `config: ${env.DROPSHIP_CONFIG} (DROPSHIP_CONFIG)\n`,
  });
  const audit = cli("exec.ts", ["shop-production-1", "--", "cat /srv/dropship/audit.log"]);
  expect(audit.out).toMatch(
    /^\S+Z exec by ann@shop: hostname; exit 3\n\S+Z exec by ann@shop: cat \/srv\/dropship\/audit.log\n$/,
  );
  // a secret this machine knows is never written into the audit, though the command ran with it
  const secretive = cli("exec.ts", [
    "shop-production-1",
    "--",
    `echo ${env.DROPSHIP_REDIS_PASSWORD} | wc -c`,
  ]);
  expect(secretive.out.trim()).toBe(String(env.DROPSHIP_REDIS_PASSWORD.length + 1));
  const audited = cli("exec.ts", [
    "shop-production-1",
    "--",
    "tail -n 2 /srv/dropship/audit.log",
  ]).out;
  // known here as the password of REDIS_URL, from fleet.env
  expect(audited).toContain("exec by ann@shop: echo **** | wc -c");
  expect(audited).not.toContain(env.DROPSHIP_REDIS_PASSWORD);
  expect(cli("exec.ts", ["production", "--", "true"]).err).toContain(
    "production is a role; name one of its hosts: shop-production-1",
  );
  const logs = cli("logs.ts", ["production", "--since", "10m"]);
  expect(logs.code).toBe(0);
  // every line of the app's log carries its time, and comes prefixed by host and service
  expect(logs.out).toMatch(
    /^shop-production-1 app {5}\| \S+Z dropship-app \w{12} \(production\) listening on/m,
  );
  expect(logs.out).toMatch(/^shop-production-1 monitor \| \S+Z dropship-monitor/m);
  expect(logs.out).not.toContain("shop-proxy-1");
  // the monitors run on the deployment's thresholds, handed over by the control host
  expect(logs.out).toContain(
    "dropship-monitor: config: the deployment's, from the control host (DROPSHIP_MONITOR_SETTINGS)",
  );
  expect(logs.out).toMatch(
    /dropship-monitor \w{12} \(production\) listening on .* — cpu > 70% for/,
  );
  expect(cli("logs.ts", ["web-9"]).err).toContain('"web-9" is neither a role');
  // -f follows: a line written on the host after it started comes through, prefixed
  const follow = Bun.spawn(
    [process.execPath, join(ROOT, "scripts/logs.ts"), "shop-production-1", "-f", "-n", "0"],
    {
      cwd: ROOT,
      env: cliEnv,
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  try {
    await Bun.sleep(1500); // its tail -F runs on the host
    cli("exec.ts", ["shop-production-1", "--", "echo follow-marker >> /srv/dropship/logs/app.log"]);
    const followed = await waitForLine(follow.stdout, /follow-marker/, 10_000, "bun run logs -f");
    expect(followed).toMatch(/^shop-production-1 app {5}\| follow-marker$/m);
  } finally {
    follow.kill("SIGINT");
    expect(await follow.exited).toBe(0);
  }
  const redisUrl = /REDIS_URL=(\S+)/.exec(readFileSync(fleetEnv, "utf8"))?.[1] as string;
  const redis = new Redis(redisUrl);
  try {
    const kinds = (await readAudit(redis, { limit: 20 })).map(
      (e) => `${e.kind} ${e.target} ${e.actor}`,
    );
    // the change made with ann's token is ann's, wherever she came from
    expect(kinds.filter((k) => k.startsWith("canary ")).map((k) => k.split(" ")[2])).toEqual([
      expect.stringMatching(/^ann@/),
    ]);
    expect(kinds).toContain("exec shop-production-1 ann@shop");
    expect(kinds).toContain("logs production ann@shop");
  } finally {
    redis.disconnect();
  }

  // upgrading the platform from a checkout: nothing changed, nothing restarted
  const checkout = join(dir, "checkout");
  Bun.spawnSync(["git", "clone", "-q", "--shared", ROOT, checkout]);
  Bun.spawnSync(["ln", "-s", join(ROOT, "node_modules"), join(checkout, "node_modules")]);
  const same = cli("upgrade.ts", [], checkout);
  expect(same.err).toBe(`config: ${env.DROPSHIP_CONFIG} (DROPSHIP_CONFIG)\n`);
  expect(same.out).toContain(
    "  shop-proxy-1: proxy and monitor unchanged\n  shop-redis-1: monitor unchanged\n",
  );
  expect(same.code).toBe(0);
  // a change to the proxy's code: handed over under load with no failed request
  const main = join(checkout, "server/proxy/main.ts");
  writeFileSync(
    main,
    readFileSync(main, "utf8").replace("listening on http", "listening (upgraded) on http"),
  );
  const git = (...args: string[]) =>
    Bun.spawnSync(["git", "-C", checkout, "-c", "user.name=t", "-c", "user.email=t@t", ...args]);
  git("commit", "-qam", "proxy: a new listening line");
  const upgradedTo = git("rev-parse", "--short=12", "HEAD").stdout.toString().trim();
  let running = true;
  const failures: string[] = [];
  let served = 0;
  const upgradeStarted = performance.now();
  const load = [...Array(8)].map(async (_, i) => {
    while (running) {
      const response = await fetch(
        `${proxy}/`,
        i % 2 ? { headers: { connection: "close" } } : {},
      ).catch((e: Error) => e);
      const at = `${((performance.now() - upgradeStarted) / 1000).toFixed(2)} s`;
      if (response instanceof Error) failures.push(`${at}: ${response.message}`);
      else if (response.status !== 200) failures.push(`${at}: HTTP ${response.status}`);
      else served++;
      if (!(response instanceof Error)) await response.arrayBuffer().catch(() => undefined);
    }
  });
  const countersBefore = resetCounters(dropletNs(proxyHost));
  const { stdout: upgradeOut, code: upgradeCode } = await runAsync(
    [process.execPath, join(checkout, "scripts/upgrade.ts")],
    { cwd: checkout, env: cliEnv },
  );
  await Bun.sleep(300);
  running = false;
  await Promise.all(load);
  expect(upgradeOut).toMatch(new RegExp(`  shop-proxy-1: proxy handed over on ${upgradedTo} \\(`));
  expect(upgradeOut).toContain("  shop-redis-1: monitor unchanged\n");
  expect(upgradeCode).toBe(0);
  // a failure here has been seen once in ~10 runs and not reproduced: say what the droplet's
  // kernel counted, and when the proxies started and stopped, for the one who meets it next
  if (failures.length > 0) {
    const after = resetCounters(dropletNs(proxyHost));
    const counted = Object.entries(after).map(
      ([name, n]) => `${name} +${n - (countersBefore[name] ?? 0)}`,
    );
    console.log(
      `setup test: ${failures.length} requests failed while the proxy was handed over (seconds after the upgrade began): ${failures.join("; ")}\n` +
        `  the proxy droplet's TCP counters meanwhile: ${counted.join(", ")}\n` +
        `  the end of its log:\n${cli("logs.ts", ["shop-proxy-1", "--since", "5m"]).out.split("\n").slice(-30).join("\n")}`,
    );
  }
  expect(failures).toEqual([]);
  expect(served).toBeGreaterThan(50);
  const health = (await (await fetch(`${proxy}/_dropship/healthz`)).json()) as { version: string };
  expect(health.version).toBe(upgradedTo);
  const proxyLog = cli("logs.ts", ["shop-proxy-1", "--since", "5m"]);
  expect(proxyLog.out).toContain(`dropship-proxy ${upgradedTo} listening (upgraded) on http`);
}, 360_000);

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
