import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { nativeRedis } from "../../../../server/monitor/redis.ts";
import { aclFile, redisPasswordFor, redisUrls } from "../../../../server/shared/state/acl.ts";
import { changeFlag, listFlags } from "../../../../server/shared/state/flags.ts";
import { KEYS } from "../../../../server/shared/state/keys.ts";
import { connectRedis, whenReady } from "../../../../server/shared/state/redis.ts";
import {
  alignSentinelTimings,
  askSentinel,
  findPrimary,
  livePeers,
  repointSentinel,
  resetSentinels,
  sentinelView,
} from "../../../../server/shared/state/sentinel.ts";
import { watchSentinelEvents } from "../../../../server/shared/state/sentinel-events.ts";
import {
  parseSentinelUrl,
  type SentinelTarget,
  sentinelUrl,
} from "../../../../server/shared/state/sentinel-url.ts";
import { freePort } from "../../../helpers/ports.ts";
import { track, waitForLine } from "../../../helpers/processes.ts";

// Redis with Sentinel as the fleet runs it, on loopback: a primary and a replica with the
// fleet's ACL file, three Sentinels with quorum 2, and clients that find the primary through
// them — ioredis (control, proxy) and Bun's own client (the monitor).
const MASTER = "sentinel-test-master-password";
const dir = mkdtempSync(join(tmpdir(), "dropship-sentinel-"));
const hosts = [{ name: "shop-production-1", role: "production" as const }];
const children: Subprocess[] = [];
afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await Promise.all(children.map((child) => child.exited));
  rmSync(dir, { recursive: true, force: true });
});

async function server(name: string, port: number, extra: string[]) {
  writeFileSync(join(dir, `${name}.acl`), aclFile(MASTER, hosts));
  const conf = [
    `port ${port}`,
    "bind 127.0.0.1",
    `dir ${dir}`,
    `dbfilename ${name}.rdb`,
    `appendfilename ${name}.aof`,
    `appenddirname ${name}-aof`,
    "appendonly yes",
    'save ""',
    // the fleet's setting too: a replica's first sync starts at once, not after 5 s
    "repl-diskless-sync-delay 0",
    `aclfile ${join(dir, `${name}.acl`)}`,
    ...extra,
  ];
  writeFileSync(join(dir, `${name}.conf`), `${conf.join("\n")}\n`);
  const child = track(
    Bun.spawn(["redis-server", join(dir, `${name}.conf`)], { stdout: "pipe", stderr: "inherit" }),
  );
  children.push(child);
  await waitForLine(child.stdout, /Ready to accept connections/, 10_000, name);
  return child;
}

async function sentinel(name: string, port: number, primaryPort: number) {
  const conf = [
    `port ${port}`,
    "bind 127.0.0.1",
    `dir ${dir}`,
    `requirepass ${redisPasswordFor(MASTER, "sentinel-clients")}`,
    `sentinel sentinel-pass ${redisPasswordFor(MASTER, "sentinel-clients")}`,
    `sentinel monitor dropship 127.0.0.1 ${primaryPort} 2`,
    "sentinel auth-user dropship sentinel",
    `sentinel auth-pass dropship ${redisPasswordFor(MASTER, "sentinel")}`,
    "sentinel down-after-milliseconds dropship 3000",
    "sentinel failover-timeout dropship 3000",
  ];
  writeFileSync(join(dir, `${name}.conf`), `${conf.join("\n")}\n`);
  const child = track(
    Bun.spawn(["redis-server", join(dir, `${name}.conf`), "--sentinel"], {
      stdout: "pipe",
      stderr: "inherit",
    }),
  );
  children.push(child);
  await waitForLine(child.stdout, /Sentinel ID is/, 10_000, name);
  return child;
}

const primaryPort = freePort();
const replicaPort = freePort();
const primary = await server("primary", primaryPort, []);
const replica = await server("replica", replicaPort, [
  `replicaof 127.0.0.1 ${primaryPort}`,
  "masteruser replica",
  `masterauth ${redisPasswordFor(MASTER, "replica")}`,
]);
const sentinelPorts = [freePort(), freePort(), freePort()];
const sentinels: Subprocess[] = [];
for (const [i, port] of sentinelPorts.entries())
  sentinels.push(await sentinel(`sentinel-${i}`, port, primaryPort));

// the replica has made its first copy before anything is asked of it
for (let tries = 0; ; tries++) {
  const info = Bun.spawnSync(
    [
      "redis-cli",
      "-p",
      String(replicaPort),
      "--user",
      "control",
      "--pass",
      MASTER,
      "--no-auth-warning",
      "INFO",
      "replication",
    ],
    { stdout: "pipe" },
  ).stdout.toString();
  if (info.includes("master_link_status:up")) break;
  if (tries > 100) throw new Error(`the replica did not sync:\n${info}`);
  await Bun.sleep(100);
}

const target: SentinelTarget = {
  username: "control",
  password: MASTER,
  name: "dropship",
  db: 0,
  sentinels: sentinelPorts.map((port) => ({ host: "127.0.0.1", port })),
  sentinelPassword: redisPasswordFor(MASTER, "sentinel-clients"),
};
const controlUrl = sentinelUrl(target);
const control = connectRedis(controlUrl, { purpose: "test", persistent: true, log: () => {} });
await whenReady(control, controlUrl, 10_000);
afterAll(() => control.disconnect());

test("every role reaches the primary through Sentinel with its own user", async () => {
  expect(await findPrimary(target)).toEqual({ host: "127.0.0.1", port: primaryPort });
  const urls = redisUrls(controlUrl, hosts);
  expect(Object.keys(urls).sort()).toEqual([
    "app-production",
    "app-staging",
    "control",
    "monitor-shop-production-1",
    "proxy",
  ]);
  for (const [user, url] of Object.entries(urls)) {
    const client = connectRedis(url, { purpose: user, persistent: false, log: () => {} });
    try {
      await whenReady(client, url, 10_000);
      // connected as that user: its own rights hold (only control may list the users)
      expect(await client.ping()).toBe("PONG");
      const listing = client.call("ACL", "LIST");
      if (user === "control") expect(await listing).toBeArray();
      else await expect(listing).rejects.toThrow("NOPERM");
    } finally {
      client.disconnect();
    }
  }
});

test("a Sentinel that is down costs no log noise from the clients' failover detector", async () => {
  const said: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => {
    said.push(args.map(String).join(" "));
  };
  try {
    const dead = { host: "127.0.0.1", port: freePort() };
    const url = sentinelUrl({ ...target, sentinels: [...target.sentinels, dead] });
    const client = connectRedis(url, { purpose: "test", persistent: true, log: () => {} });
    await whenReady(client, url, 10_000);
    expect(await client.ping()).toBe("PONG");
    // once ready, the detector connects to every Sentinel, the dead one too
    await Bun.sleep(1500);
    client.disconnect();
  } finally {
    console.error = original;
  }
  expect(said.filter((line) => line.includes("[ioredis]"))).toEqual([]);
});

test("a change is acknowledged once the replica has it", async () => {
  await changeFlag(control, "checkout", { enabled: true, rollout: 100 }, "ann", "create");
  // WAIT returned only after the replica had it: read it there directly
  const replicaUrl = `redis://control:${MASTER}@127.0.0.1:${replicaPort}/0`;
  const direct = connectRedis(replicaUrl, { purpose: "replica", persistent: false, log: () => {} });
  try {
    await whenReady(direct, replicaUrl, 5000);
    expect(await direct.hget(KEYS.flags, "checkout")).toContain('"enabled":true');
  } finally {
    direct.disconnect();
  }
});

test("bun run backup reads the primary the Sentinels name; bun run restore writes through them, and the replica has it", async () => {
  const work = mkdtempSync(join(tmpdir(), "dropship-sentinel-backup-"));
  try {
    writeFileSync(join(work, "dropship.yml"), "name: shop\n");
    const verb = (script: string, ...args: string[]) => {
      const proc = Bun.spawnSync(
        [process.execPath, join(import.meta.dir, "../../../../scripts", script), ...args],
        {
          cwd: work,
          env: {
            PATH: process.env.PATH ?? "",
            HOME: work,
            REDIS_URL: controlUrl,
            DROPSHIP_ACTOR: "ann",
            DROPSHIP_GITOPS_REPO: join(work, "none"),
          },
          stdout: "pipe",
          stderr: "pipe",
        },
      );
      return { code: proc.exitCode, out: proc.stdout.toString(), err: proc.stderr.toString() };
    };
    await changeFlag(control, "backed.up", { enabled: true, rollout: 40 }, "ann", "create");
    const taken = verb("backup.ts");
    expect(taken.err).toBe("");
    expect(taken.out).toContain(`  Redis at 127.0.0.1:${primaryPort}: `);
    expect(taken.out + taken.err).not.toContain(MASTER);
    await changeFlag(control, "backed.up", { enabled: false, rollout: 100 }, "bob", "update");
    const restored = verb("restore.ts", "latest", "--yes");
    expect(restored.err).toBe("");
    expect(restored.out).toContain("  flags: backed.up off → on for 40%\n");
    const replicaUrl = `redis://control:${MASTER}@127.0.0.1:${replicaPort}/0`;
    const direct = connectRedis(replicaUrl, {
      purpose: "replica",
      persistent: false,
      log: () => {},
    });
    try {
      await whenReady(direct, replicaUrl, 5000);
      expect(await direct.hget(KEYS.flags, "backed.up")).toContain('"rollout":40');
    } finally {
      direct.disconnect();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test("a replica that does not confirm in time: the change says it is not safe yet", async () => {
  replica.kill("SIGSTOP");
  try {
    await expect(
      changeFlag(control, "unconfirmed", { enabled: true, rollout: 100 }, "ann", "create"),
    ).rejects.toThrow("its replica did not confirm it within 2 s");
  } finally {
    replica.kill("SIGCONT");
  }
}, 20_000);

test("a Sentinel with an older version's timings is given this one's; the others are left alone", async () => {
  const [older, ...others] = target.sentinels;
  if (!older) throw new Error("no Sentinel");
  const timings = { "down-after-milliseconds": "3000", "failover-timeout": "3000" };
  const ask = (s: typeof older, args: string[]) =>
    askSentinel(s, target.sentinelPassword, ["SENTINEL", ...args]);
  const timingsOf = async (s: typeof older) => {
    const reply = (await ask(s, ["MASTER", "dropship"])) as string[];
    const at = (name: string) => reply[reply.indexOf(name) + 1];
    return {
      "down-after-milliseconds": at("down-after-milliseconds"),
      "failover-timeout": at("failover-timeout"),
    };
  };
  await ask(older, ["SET", "dropship", "failover-timeout", "10000"]);
  const gone = { host: "127.0.0.1", port: freePort() };
  const lines = await alignSentinelTimings(
    { ...target, sentinels: [...target.sentinels, gone] },
    timings,
  );
  expect(lines[0]).toBe(`127.0.0.1:${older.port}: failover-timeout 10000 → 3000`);
  expect(lines[1]).toStartWith(`! 127.0.0.1:${gone.port}: timings not checked:`);
  expect(lines).toHaveLength(2);
  for (const s of [older, ...others]) expect(await timingsOf(s)).toEqual(timings);
  // Sentinel wrote it to its file: a restart would keep it
  expect(readFileSync(join(dir, "sentinel-0.conf"), "utf8")).toContain(
    "sentinel failover-timeout dropship 3000",
  );
  expect(await alignSentinelTimings(target, timings)).toEqual([]);
});

test("a Sentinel lost for good is forgotten by the others, who still know each other and the replica", async () => {
  const extra = await sentinel("sentinel-extra", freePort(), primaryPort);
  const peers = () => Promise.all(target.sentinels.map((s) => livePeers(s, target)));
  // hello messages make the fourth known to the three (every 2 s)
  for (let i = 0; i < 60 && !(await peers()).every((p) => p?.sentinels === 3); i++)
    await Bun.sleep(250);
  expect(await peers()).toEqual(Array(3).fill({ sentinels: 3, replicas: 1, down: 0 }));
  extra.kill("SIGKILL");
  await extra.exited;
  // still listed, as down once down-after-milliseconds (3 s) has passed
  for (let i = 0; i < 40 && !(await peers()).every((p) => p?.down === 1); i++) await Bun.sleep(250);
  expect(await peers()).toEqual(Array(3).fill({ sentinels: 2, replicas: 1, down: 1 }));
  expect(await resetSentinels(target, { spacingMs: 30_000, waitMs: 10_000 })).toEqual([]);
  // each, the last included, found the others and the replica again before it returned
  expect(await peers()).toEqual(Array(3).fill({ sentinels: 2, replicas: 1, down: 0 }));
}, 60_000);

test("a Sentinel naming a primary that is gone is listed stale, and pointed at the majority's", async () => {
  // one that lost touch: it names an old primary (nothing listens there any more), so it
  // hears of no replica and no other Sentinel
  const stalePort = freePort();
  await sentinel("sentinel-stale", stalePort, freePort());
  const stale = { host: "127.0.0.1", port: stalePort };
  const all: SentinelTarget = { ...target, sentinels: [...target.sentinels, stale] };
  const before = await sentinelView(all);
  expect(before).toMatchObject({ primary: "127.0.0.1", agreeing: 3, stale: [stale] });
  expect(before.settings).toMatchObject({ port: String(primaryPort), quorum: "2" });
  expect(
    await repointSentinel(stale, all, before.settings, redisPasswordFor(MASTER, "sentinel")),
  ).toBeUndefined();
  // it names the primary at once, and finds the replica (the primary's INFO, every 10 s, which
  // it reads only with the password it was given) and the other Sentinels (their hello
  // messages, every 2 s) through it
  let peers = await livePeers(stale, all);
  for (let i = 0; i < 60 && !(peers?.sentinels === 3 && peers.replicas === 1); i++) {
    await Bun.sleep(250);
    peers = await livePeers(stale, all);
  }
  expect(peers).toEqual({ sentinels: 3, replicas: 1, down: 0 });
  expect(await sentinelView(all)).toMatchObject({ agreeing: 4, stale: [] });
}, 30_000);

test("the monitor's client learns the Sentinels its URL does not name, and asks them once its own is gone", async () => {
  const given = parseSentinelUrl(
    redisUrls(controlUrl, hosts)["monitor-shop-production-1"] as string,
  );
  await changeFlag(control, "learned", { enabled: true, rollout: 100 }, "ann", "create");
  // the first Sentinel knows the two others (their hello messages, every 2 s)
  const first = target.sentinels[0] as SentinelTarget["sentinels"][0];
  for (let i = 0; i < 60 && (await livePeers(first, target))?.sentinels !== 2; i++)
    await Bun.sleep(250);
  // a URL made when only the first Sentinel's host was there: the others came later
  const url = sentinelUrl({ ...given, sentinels: [first] });
  const monitor = nativeRedis(url);
  const fresh = nativeRedis(url);
  expect(await monitor.hexists(KEYS.flags, "learned")).toBe(1);
  sentinels[0]?.kill("SIGSTOP");
  try {
    // closed, the client asks the Sentinels for the primary again on its next command
    monitor.close();
    expect(await monitor.hexists(KEYS.flags, "learned")).toBe(1);
    // a client that never learned them has only the URL's Sentinel, which answers nothing
    await expect(fresh.hexists(KEYS.flags, "learned")).rejects.toThrow(
      "no Sentinel named the primary",
    );
  } finally {
    sentinels[0]?.kill("SIGCONT");
    monitor.close();
    fresh.close();
  }
}, 30_000);

test("the primary lost without a word: a failover within seconds, no acknowledged change lost, clients follow", async () => {
  const monitor = nativeRedis(redisUrls(controlUrl, hosts)["monitor-shop-production-1"] as string);
  expect(await monitor.hexists(KEYS.flags, "checkout")).toBe(1);
  for (let i = 0; i < 20; i++)
    await changeFlag(control, `before-${i}`, { enabled: true, rollout: 100 }, "ann", "create");
  const told = watchSentinelEvents(target);
  await Bun.sleep(200); // subscribed
  const lostAt = performance.now();
  // frozen, not killed: like a droplet that vanished, it closes no connection, so the clients
  // learn of the loss only from the Sentinels (a killed process's FIN would tell them at once)
  primary.kill("SIGSTOP");
  // changes work again once Sentinel has promoted the replica (alone now: nothing to wait for)
  let changedAfterMs = 0;
  for (;;) {
    try {
      await changeFlag(control, "after", { enabled: true, rollout: 100 }, "ann", "create");
      changedAfterMs = performance.now() - lostAt;
      break;
    } catch (error) {
      if (performance.now() - lostAt > 30_000) throw error;
      await Bun.sleep(200);
    }
  }
  console.log(`changes worked again ${Math.round(changedAfterMs)} ms after the primary was lost`);
  expect(await findPrimary(target)).toEqual({ host: "127.0.0.1", port: replicaPort });
  // the Sentinels settle on the new primary within seconds of the switch
  let view = await sentinelView(target);
  for (let i = 0; i < 50 && view.failingOver; i++) {
    await Bun.sleep(200);
    view = await sentinelView(target);
  }
  expect(view).toMatchObject({ primary: "127.0.0.1", failingOver: false, stale: [] });
  // and each told its own part: the switch, heard from every one of them, and the primary
  // seen down (the candidacy may be the fourth Sentinel's, from the test before, unwatched)
  told.stop();
  const switched = told.events.filter((e) => e.name === "+switch-master");
  expect(switched.map((e) => e.detail)).toEqual(
    sentinelPorts.map(() => `dropship 127.0.0.1 ${primaryPort} 127.0.0.1 ${replicaPort}`),
  );
  expect(told.events.map((e) => `${e.name} ${e.detail}`)).toContain(
    `+sdown master dropship 127.0.0.1 ${primaryPort}`,
  );
  const names = (await listFlags(control)).map((f) => f.name);
  for (let i = 0; i < 20; i++) expect(names).toContain(`before-${i}`);
  expect(names).toContain("after");
  // Bun's client in the monitor found the new primary too
  expect(await monitor.hexists(KEYS.flags, "after")).toBe(1);
  monitor.close();
}, 60_000);
