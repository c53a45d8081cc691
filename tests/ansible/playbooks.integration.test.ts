import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import Redis from "ioredis";
import { inventoryYaml } from "../../gitops/inventory.ts";
import { EMULATOR } from "../../server/emulator/this-network.ts";
import { runPlaybook } from "../../server/shared/ansible.ts";
import { DigitalOcean, type Droplet } from "../../server/shared/cloud/digitalocean.ts";
import {
  hostKeyUserData,
  knownHostsLine,
  makeHostKey,
} from "../../server/shared/cloud/hostkeys.ts";
import type { RoleName } from "../../server/shared/config/schema.ts";
import { deliverRelease, waitForVersion } from "../../server/shared/deliver.ts";
import { hostCommands } from "../../server/shared/host/layout.ts";
import { Ssh } from "../../server/shared/ssh.ts";
import { aclFile, redisUrls, redisUsers } from "../../server/shared/state/acl.ts";
import { changeFlag } from "../../server/shared/state/flags.ts";
import { KEYS } from "../../server/shared/state/keys.ts";
import { connectRedis, whenReady } from "../../server/shared/state/redis.ts";
import { mainPidOf, startEmulator, userKey } from "../helpers/emulator.ts";
import { eventually } from "../helpers/server.ts";
import { fileTempDir } from "../helpers/tmp.ts";

// droplets that boot systemd, as DigitalOcean's do (the emulator's default): the playbooks'
// systemd path (units, the packaged Redis off, restarts) is checked here
const emulator = await startEmulator();
const ROOT = resolve(import.meta.dir, "../..");
const provider = new DigitalOcean({ token: emulator.token, apiUrl: emulator.apiUrl });
const account = userKey();
const dir = fileTempDir("dropship-ansible-");
const keyFile = join(dir, "id");
writeFileSync(keyFile, account.privateKey, { mode: 0o600 });
const knownHosts = join(dir, "known_hosts");
const inventory = join(dir, "inventory.yml");
const redisPassword = crypto.randomUUID().replaceAll("-", "");
const hosts: { name: string; role: RoleName; droplet: Droplet; hostPublicKey: string }[] = [];
let env: Record<string, string> = {};
// the deployment's config the proxy host gets a copy of, as it is: Jinja's braces included
const configFile = join(dir, "dropship.yml");
const configText = `${readFileSync(join(ROOT, "dropship.example.yml"), "utf8")}# {{ not a template }} {% nor this %}\n`;
writeFileSync(configFile, configText);

test("four droplets come up and the four playbooks converge on them", async () => {
  const key = await provider.ensureSshKey("dropship", account.publicKey);
  const roles: [string, RoleName][] = [
    ["proxy-1", "proxy"],
    ["redis-1", "redis"],
    ["web-1", "production"],
    ["canary-1", "staging"],
  ];
  const started = performance.now();
  for (const [name, role] of roles) {
    const hostKey = makeHostKey(name);
    const droplet = await provider.createDroplet({
      name,
      region: "nyc3",
      size: "s-1vcpu-1gb",
      image: "debian-12-x64",
      sshKeys: [key.id],
      tags: ["dropship"],
      userData: hostKeyUserData(hostKey),
    });
    hosts.push({ name, role, droplet, hostPublicKey: hostKey.publicKey });
  }
  const lines: string[] = [];
  for (const host of hosts) {
    host.droplet = await provider.waitActive(host.droplet, 20_000, 50);
    lines.push(
      knownHostsLine(host.droplet.ip as string, { privateKey: "", publicKey: host.hostPublicKey }),
    );
  }
  writeFileSync(knownHosts, `${lines.join("\n")}\n`);
  const ready = performance.now();
  writeFileSync(
    inventory,
    inventoryYaml(
      hosts.map((h) => ({
        name: h.name,
        role: h.role,
        address: h.droplet.ip as string,
        dropletId: h.droplet.id,
      })),
      { privateKeyFile: keyFile, knownHostsFile: knownHosts },
    ),
  );
  const redisIp = hosts.find((h) => h.role === "redis")?.droplet.ip;
  const controlUrl = `redis://control:${redisPassword}@${redisIp}:6379/0`;
  const users = hosts.map((h) => ({ name: h.name, role: h.role }));
  env = {
    DROPSHIP_REDIS_PASSWORD: redisPassword,
    DROPSHIP_REDIS_ACL: aclFile(redisPassword, users),
    DROPSHIP_REDIS_URLS: JSON.stringify(redisUrls(controlUrl, users)),
    REDIS_URL: controlUrl,
    DROPSHIP_ADMIN_TOKEN: "admin-token-0123456789abcdef",
    DROPSHIP_CONFIG_FILE: configFile,
  };
  // the Redis host as Debian's redis-server package leaves a real droplet: its own server
  // enabled and started on 127.0.0.1:6379 with no password (the emulator's droplets share
  // this machine's packages, so no install runs there to do it; their /var is new at boot)
  await on(
    "redis-1",
    "install -d -o redis -g redis /var/lib/redis /var/log/redis && systemctl enable -q --now redis-server && systemctl is-active redis-server",
  );
  const playbooks = ["redis.yml", "proxy.yml", "product.yml", "staging.yml"] as const;
  const first = await Promise.all(playbooks.map((p) => runPlaybook(p, inventory, env)));
  const converged = performance.now();
  for (const recap of first) for (const host of Object.values(recap)) expect(host.failed).toBe(0);
  expect(Object.keys(Object.assign({}, ...first)).sort()).toEqual([
    "canary-1",
    "proxy-1",
    "redis-1",
    "web-1",
  ]);
  // a second converge changes nothing: tests/guide.integration.test.ts runs setup twice on its
  // fleet, and the second says so
  console.log(
    `4 droplets: create → SSH-ready ${((ready - started) / 1000).toFixed(1)} s; converge of 4 playbooks in parallel ${((converged - ready) / 1000).toFixed(1)} s`,
  );
}, 180_000);

test("redis-server runs on the redis host's private address with a user per role, default off, and a memory limit", async () => {
  const redisIp = hosts.find((h) => h.role === "redis")?.droplet.ip as string;
  const client = new Redis({
    host: redisIp,
    port: 6379,
    username: "control",
    password: redisPassword,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
  });
  await client.connect();
  expect(await client.ping()).toBe("PONG");
  expect(((await client.call("ACL", "USERS")) as string[]).sort()).toEqual(
    ["default", ...redisUsers(hosts.map((h) => ({ name: h.name, role: h.role })))].sort(),
  );
  // it holds at most half the droplet's memory (redis/maxmemory auto; the droplet's 1 GB, not
  // this machine's), and when full the keys that expire give way (redis/maxmemory_policy)
  const memoryMb = Math.floor(
    Number(/^MemTotal:\s+(\d+) kB$/m.exec(await on("redis-1", "cat /proc/meminfo"))?.[1]) / 1024,
  );
  expect(memoryMb).toBeGreaterThan(900);
  expect(memoryMb).toBeLessThanOrEqual(1024);
  expect(await client.call("CONFIG", "GET", "maxmemory")).toEqual([
    "maxmemory",
    String(Math.floor(memoryMb / 2) * 1024 * 1024),
  ]);
  expect(await client.call("CONFIG", "GET", "maxmemory-policy")).toEqual([
    "maxmemory-policy",
    "volatile-lru",
  ]);
  client.disconnect();
  // the password alone, as the default user, no longer gets in
  const unnamed = new Redis({
    host: redisIp,
    port: 6379,
    password: redisPassword,
    lazyConnect: true,
    retryStrategy: () => null,
  });
  unnamed.on("error", () => {});
  await expect(unnamed.connect()).rejects.toThrow();
  const anonymous = new Redis({
    host: redisIp,
    port: 6379,
    lazyConnect: true,
    retryStrategy: () => null,
  });
  anonymous.on("error", () => {});
  await expect(anonymous.connect()).rejects.toThrow();
});

test("Redis restarted on its droplet comes back with every change: scripts' and transactions' too", async () => {
  const redisIp = hosts.find((h) => h.role === "redis")?.droplet.ip as string;
  const url = `redis://control:${redisPassword}@${redisIp}:6379/0`;
  const connect = async () => {
    const client = connectRedis(url, { purpose: "test", persistent: false, log: () => {} });
    await whenReady(client, url, 5_000).catch((error) => {
      client.disconnect();
      throw error;
    });
    return client;
  };
  const before = await connect();
  await changeFlag(before, "restart.kept", { enabled: true, rollout: 20 }, "test", "create");
  await before.multi().set("app:message:restart", "kept").lpush("app:recent", "restart").exec();
  const flags = await before.hgetall(KEYS.flags);
  const audit = await before.xlen(KEYS.audit);
  before.disconnect();
  await on("redis-1", hostCommands.service("restart", "redis"));
  let after: Awaited<ReturnType<typeof connect>> | undefined;
  await eventually(
    async () => {
      after = await connect();
      return true;
    },
    20_000,
    "Redis back",
  );
  if (!after) throw new Error("Redis did not come back");
  try {
    expect(await after.hgetall(KEYS.flags)).toEqual(flags);
    expect(await after.xlen(KEYS.audit)).toBe(audit);
    expect(await after.get("app:message:restart")).toBe("kept");
  } finally {
    after.disconnect();
  }
}, 60_000);

test("each host has the service user and private directories, and nothing leaks to its neighbours", async () => {
  const { ssh } = await sshTo("web-1");
  expect(
    (await ssh.check("id -u dropship && stat -c %a /srv/dropship/shared")).trim().split("\n")[1],
  ).toBe("700");
  expect(
    (await ssh.check("cat /srv/dropship/shared/app.env")).includes("DROPSHIP_TRACK=production"),
  ).toBe(true);
  expect((await ssh.exec("test -e /srv/dropship/data/redis/redis.conf")).code).not.toBe(0);
  // the firewall, set going in the background, is on with its rules
  const ufw = await ssh.check("ufw status");
  expect(ufw).toContain("Status: active");
  // the app's port from the VPC (whichever emulator network this runs on)
  expect(ufw).toMatch(
    new RegExp(`3000/tcp\\s+ALLOW\\s+${EMULATOR.private.prefix.replace(".", "\\.")}\\.0\\.0/16`),
  );
  ssh.close();
  // and this machine, whose /usr and /var the hosts share, gained no user and no file
  expect(Bun.spawnSync(["id", "dropship"]).exitCode).not.toBe(0);
  expect(await Bun.file("/srv/dropship/bin/dropship-service").exists()).toBe(false);
});

test("each service on a host gets its own settings, not those of the service set up beside it", async () => {
  // redis-server needs no Redis URL: the monitor's, with its password, is not in its settings
  const redisEnv = await on("redis-1", "cat /srv/dropship/shared/redis.env");
  expect(redisEnv).toContain("DROPSHIP_LOG_TIME=1");
  expect(redisEnv).not.toContain("REDIS_URL");
  // the proxy's admin token and low port are the proxy's: Ansible lets a role entry's vars reach
  // every other role of the play unless role vars are private (ansible.cfg); the monitor got the
  // low port (under systemd, the right to bind ports below 1024)
  const proxyHost = await on(
    "proxy-1",
    "cat /srv/dropship/shared/proxy.env; echo ---; cat /srv/dropship/shared/monitor.env; echo ---; ls /etc/sysctl.d",
  );
  const [proxyEnv, monitorEnv, sysctl] = proxyHost.split("---\n");
  expect(proxyEnv).toContain("DROPSHIP_ADMIN_TOKEN=");
  expect(monitorEnv).toContain("DROPSHIP_ROLE=proxy");
  expect(monitorEnv).not.toContain("DROPSHIP_ADMIN_TOKEN");
  expect(sysctl).toContain("60-dropship-proxy.conf");
  expect(await on("proxy-1", "cat /srv/dropship/proxy.yml")).toBe(configText);
  // the kernel settings the proxy needs are in force, not only written down
  expect(await on("proxy-1", "sysctl -n net.ipv4.tcp_migrate_req")).toBe("1\n");
  expect(sysctl).not.toContain("60-dropship-monitor.conf");
});

test("a host whose key is not the pinned one is refused: nothing runs there", async () => {
  const web = hosts.find((h) => h.name === "web-1") as (typeof hosts)[number];
  const canary = hosts.find((h) => h.name === "canary-1") as (typeof hosts)[number];
  // web-1's address pinned to another host's key: a new droplet at an old address, or a
  // machine in the middle
  const wrongKnownHosts = join(dir, "known_hosts.wrong");
  writeFileSync(
    wrongKnownHosts,
    `${knownHostsLine(web.droplet.ip as string, { privateKey: "", publicKey: canary.hostPublicKey })}\n`,
  );
  const wrongInventory = join(dir, "inventory.wrong.yml");
  writeFileSync(
    wrongInventory,
    inventoryYaml(
      [
        {
          name: web.name,
          role: web.role,
          address: web.droplet.ip as string,
          dropletId: web.droplet.id,
        },
      ],
      { privateKeyFile: keyFile, knownHostsFile: wrongKnownHosts },
    ),
  );
  await expect(runPlaybook("product.yml", wrongInventory, env)).rejects.toThrow(
    /product\.yml failed on web-1[\s\S]*UNREACHABLE/,
  );
}, 60_000);

/** A host of the test's by name, its address and an SSH connection to it as root. */
async function sshTo(name: string): Promise<{ ip: string; ssh: Ssh }> {
  const host = hosts.find((h) => h.name === name) as (typeof hosts)[number];
  const ip = host.droplet.ip as string;
  const ssh = await Ssh.connect({
    host: ip,
    privateKey: account.privateKey,
    hostPublicKey: host.hostPublicKey,
  });
  return { ip, ssh };
}

/** One server built as release `version`, as the deliveries take it. */
function release(version: string, server: "app" | "proxy") {
  const outdir = join(dir, version);
  const build = Bun.spawnSync(
    [process.execPath, join(ROOT, "scripts/build.ts"), "--outdir", outdir, "--version", version],
    { stderr: "pipe", env: { ...process.env, DROPSHIP_BUILD_SERVERS: server } },
  );
  if (build.exitCode !== 0) throw new Error(build.stderr.toString());
  return { version, binaries: [join(outdir, `dropship-${server}`)] };
}

/** A command's output on a host, over SSH as root. */
async function on(name: string, command: string): Promise<string> {
  const { ssh } = await sshTo(name);
  try {
    return await ssh.check(command);
  } finally {
    ssh.close();
  }
}

test("under systemd each service is a unit of its own: enabled, run as dropship, logged to the journal; the packaged Redis is off", async () => {
  expect((await on("redis-1", "cat /proc/1/comm")).trim()).toBe("systemd");
  const redis = await on(
    "redis-1",
    [
      "systemctl is-active dropship-redis",
      "systemctl is-enabled dropship-redis",
      "systemctl show -p User --value dropship-redis",
      "systemctl is-enabled redis-server || true",
      "systemctl is-active redis-server || true",
      "journalctl -u dropship-redis -o cat --no-pager",
    ].join("; "),
  );
  const [active, enabled, user, packagedEnabled, packagedActive] = redis.split("\n");
  expect([active, enabled, user]).toEqual(["active", "enabled", "dropship"]);
  // started before the first converge (as the package does), stopped by it for good
  expect([packagedEnabled, packagedActive]).toEqual(["disabled", "inactive"]);
  expect(redis).toContain("Ready to accept connections");
  // the proxy may bind port 80 as dropship; the monitor beside it gets no such right
  const units = await on(
    "proxy-1",
    "systemctl cat dropship-proxy; echo ---; systemctl cat dropship-monitor",
  );
  const [proxyUnit, monitorUnit] = units.split("---\n");
  expect(proxyUnit).toContain("AmbientCapabilities=CAP_NET_BIND_SERVICE");
  expect(proxyUnit).toContain("User=dropship");
  expect(monitorUnit).not.toContain("AmbientCapabilities");
  // systemd runs the units as written: the first converge's were read once written
  const stale = await on(
    "proxy-1",
    "systemctl show -p NeedDaemonReload --value dropship-proxy dropship-proxy-handover dropship-monitor",
  );
  expect(stale.split("\n").filter(Boolean)).toEqual(["no", "no", "no"]);
});

test("under systemd every service is sandboxed: read-only but its own directories, a /tmp and /dev of its own, no capability or system call it does not need", async () => {
  const sandbox =
    "ProtectSystem,ProtectHome,PrivateTmp,PrivateDevices,NoNewPrivileges,RestrictNamespaces,ProtectHostname,ProtectClock,RestrictAddressFamilies,SystemCallErrorNumber";
  const shown = await on(
    "proxy-1",
    `systemctl show -p ${sandbox},CapabilityBoundingSet,ReadWritePaths dropship-proxy dropship-monitor`,
  );
  const [proxy = [], monitor = []] = shown.split("\n\n").map((unit) => unit.trim().split("\n"));
  for (const unit of [proxy, monitor]) {
    for (const line of [
      "ProtectSystem=strict",
      "ProtectHome=yes",
      "PrivateTmp=yes",
      "PrivateDevices=yes",
      "NoNewPrivileges=yes",
      "RestrictNamespaces=yes",
      "ProtectHostname=yes",
      "ProtectClock=yes",
      "RestrictAddressFamilies=AF_INET AF_INET6 AF_NETLINK AF_UNIX",
      "SystemCallErrorNumber=1",
    ]) {
      expect(unit).toContain(line);
    }
  }
  expect(proxy).toContain("CapabilityBoundingSet=cap_net_bind_service");
  expect(proxy).toContain("ReadWritePaths=/srv/dropship/logs");
  expect(monitor).toContain("CapabilityBoundingSet=");
  expect(monitor).toContain("ReadWritePaths=");
  // what the running Redis sees, from inside its mount namespace: its data directory writable,
  // the rest of the system and the host's other files not, none of the host's /tmp or /dev, a
  // system-call filter on the process, and the droplet's own figures in /proc (a monitor there
  // reads its CPU and memory from them)
  const seen = await on(
    "redis-1",
    [
      "touch /tmp/dropship-host-probe /dev/dropship-host-probe",
      "pid=$(systemctl show -p MainPID --value dropship-redis)",
      `nsenter -t "$pid" -m -- sh -c 'for f in /usr/probe /etc/probe /srv/dropship/probe /srv/dropship/data/redis/probe; do touch $f 2>/dev/null && echo "$f written" && rm $f || echo "$f refused"; done; for d in /tmp /dev; do test -e $d/dropship-host-probe && echo "host $d seen" || echo "host $d not seen"; done'`,
      "rm /tmp/dropship-host-probe /dev/dropship-host-probe",
      `grep '^Seccomp:' /proc/$pid/status`,
      `nsenter -t "$pid" -m -- head -1 /proc/meminfo`,
      "head -1 /proc/meminfo",
    ].join("; "),
  );
  const lines = seen.trim().split("\n");
  const [insideMemory, dropletMemory] = lines.slice(-2);
  expect(lines.slice(0, -2)).toEqual([
    "/usr/probe refused",
    "/etc/probe refused",
    "/srv/dropship/probe refused",
    "/srv/dropship/data/redis/probe written",
    "host /tmp not seen",
    "host /dev not seen",
    "Seccomp:\t2",
  ]);
  expect(insideMemory).toBe(dropletMemory);
});

test("under systemd a delivered release runs under its unit: enabled for the next boot, restarted by it, logged to the journal, and back after a release that crash-looped", async () => {
  const { ip, ssh } = await sshTo("web-1");
  try {
    await deliverRelease(
      ssh,
      // the app alone (a monitor delivered would be started by the converge below)
      release("release-1", "app"),
      {
        cacheDir: join(dir, "cache"),
        restart: ["app"],
        healthUrl: `http://${ip}:3000/healthz`,
        healthTimeoutMs: 20_000,
      },
    );
    const unit = async () =>
      (
        await ssh.check(
          `systemctl is-enabled dropship-app; systemctl is-active dropship-app; pid=$(${mainPidOf("app")}); echo $pid; ps -o user= -p $pid`,
        )
      ).split("\n");
    const [enabled, active, pid, user] = await unit();
    // the first delivery started it; the host's next boot starts it too
    expect([enabled, active, user]).toEqual(["enabled", "active", "dropship"]);
    await ssh.check(hostCommands.service("restart", "app"));
    await waitForVersion(ip, `http://${ip}:3000/healthz`, "release-1", 20_000);
    const [, activeAgain, pidAgain] = await unit();
    expect(activeAgain).toBe("active");
    expect(pidAgain).not.toBe(pid);
    // what bun run logs reads on such a host: the app's lines, each with its time
    const log = await ssh.check(hostCommands.log("app", { lines: 20, follow: false }));
    expect(log).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z .*dropship-app/m);
    // a converge now finds the units as it left them, and leaves the app running
    const again = await runPlaybook("product.yml", inventory, env);
    expect(again["web-1"]?.changed).toBe(0);
    expect((await unit())[2]).toBe(pidAgain);
    // a unit changed on the host (and loaded so) is written back by the next converge, and
    // systemd reads it again: it runs what the file says, not what it loaded before
    const restartSec = async () =>
      (await ssh.check("systemctl show -p RestartUSec --value dropship-app")).trim();
    await ssh.check(
      "sed -i 's/^RestartSec=1$/RestartSec=7/' /etc/systemd/system/dropship-app.service && systemctl daemon-reload",
    );
    expect(await restartSec()).toBe("7s");
    const mended = await runPlaybook("product.yml", inventory, env);
    expect(mended["web-1"]?.changed).toBeGreaterThan(0);
    expect(await restartSec()).toBe("1s");
    expect(
      (await ssh.check("systemctl show -p NeedDaemonReload --value dropship-app")).trim(),
    ).toBe("no");
    // a release that cannot start: systemd restarts it until its start limit, then refuses
    // starts for a while, even by hand; the restart that puts the last release back (as a
    // rollback does) still starts it
    await ssh.check(
      "mkdir -p /srv/dropship/releases/broken && printf '#!/bin/sh\\nexit 1\\n' > /srv/dropship/releases/broken/dropship-app && chmod 755 /srv/dropship/releases/broken/dropship-app",
    );
    await ssh.check(hostCommands.switchTo("broken"));
    await ssh.exec(hostCommands.service("restart", "app"));
    const state = async () => (await ssh.exec("systemctl is-active dropship-app")).stdout.trim();
    const deadline = Date.now() + 20_000;
    while ((await state()) !== "failed" && Date.now() < deadline) await Bun.sleep(250);
    expect(await state()).toBe("failed");
    expect((await ssh.exec("systemctl restart dropship-app")).code).not.toBe(0);
    await ssh.check(hostCommands.switchTo("release-1"));
    await ssh.check(hostCommands.service("restart", "app"));
    await waitForVersion(ip, `http://${ip}:3000/healthz`, "release-1", 20_000);
    await ssh.check("rm -rf /srv/dropship/releases/broken");
    await ssh.check(hostCommands.service("stop", "app"));
    expect((await ssh.exec("systemctl is-active dropship-app")).stdout.trim()).toBe("inactive");
  } finally {
    ssh.close();
  }
}, 120_000);

test("under systemd a proxy is handed over to its next release under load, with no failed request", async () => {
  const { ip, ssh } = await sshTo("proxy-1");
  const health = `http://${ip}/_dropship/healthz`;
  const options = {
    cacheDir: join(dir, "cache"),
    restart: [],
    handover: ["proxy"],
    healthUrl: health,
    healthTimeoutMs: 30_000,
  };
  try {
    // the first release starts it: port 80 as dropship, by the unit's capability
    await deliverRelease(ssh, release("edge-1", "proxy"), options);
    expect(await ssh.check(`ps -o user= -p $(${mainPidOf("proxy")})`)).toBe("dropship\n");
    const next = release("edge-2", "proxy");
    let running = true;
    let served = 0;
    let failed = 0;
    const failures: string[] = [];
    const load = [...Array(8)].map(async (_, i) => {
      while (running) {
        // half of them a new connection a request: a refused one fails here
        const response = await fetch(
          health,
          i % 2 ? { headers: { connection: "close" } } : {},
        ).catch((e: Error) => e);
        if (response instanceof Error) {
          // a restart instead refuses thousands: the first few say enough
          if (++failed <= 5) failures.push(response.message);
        } else {
          await response.arrayBuffer();
          served++;
        }
      }
    });
    await deliverRelease(ssh, next, options);
    await Bun.sleep(300);
    running = false;
    await Promise.all(load);
    expect({ failed, failures }).toEqual({ failed: 0, failures: [] });
    expect(served).toBeGreaterThan(50);
    expect(((await (await fetch(health)).json()) as { version: string }).version).toBe("edge-2");
    // the second unit carried the ports and is gone again; the first runs the new release
    expect(
      await ssh.check(
        "systemctl is-active dropship-proxy-handover || true; systemctl is-active dropship-proxy",
      ),
    ).toBe("inactive\nactive\n");
    // a release whose proxy never listens: the second unit is stopped, the running proxy stays
    await ssh.check(
      "mkdir -p /srv/dropship/releases/broken && printf '#!/bin/sh\\nexit 1\\n' > /srv/dropship/releases/broken/dropship-proxy && chmod 755 /srv/dropship/releases/broken/dropship-proxy",
    );
    await ssh.check(hostCommands.switchTo("broken"));
    const broken = await ssh.exec(hostCommands.service("handover", "proxy"));
    expect(broken.code).toBe(4);
    expect(broken.stderr).toMatch(
      /dropship-handover: the new proxy did not listen on .*80.* within 30 s; the old one \(\d+\) keeps serving — see journalctl -u dropship-proxy-handover/,
    );
    expect(((await (await fetch(health)).json()) as { version: string }).version).toBe("edge-2");
    expect(await ssh.check("systemctl is-active dropship-proxy-handover || true")).toBe(
      "inactive\n",
    );
    await ssh.check(`${hostCommands.switchTo("edge-2")} && rm -rf /srv/dropship/releases/broken`);
  } finally {
    ssh.close();
  }
}, 180_000);
