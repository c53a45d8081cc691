// How often the Sentinels' leader election splits when the primary's host is lost, and what a
// failover then takes, for a placement and timings of the Sentinels. On loopback: a primary, a
// replica and N Sentinels, the first two "on" the primary's and the replica's hosts. A lost host
// is SIGSTOPped (its Redis and its Sentinel), which, like a droplet gone from the network, closes
// nothing and answers nothing; then it comes back as the new primary's replica, and once every
// Sentinel agrees again the next trial loses the new primary's host.
//
//   bun bench/sentinel-election.ts <trials> <sentinels> <failover-timeout ms> [down-after ms,...]
//
// `down-after` is one value for all, or one per Sentinel (the lost host's Sentinel included).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { freePort, startDaemon } from "../scripts/lib/processes.ts";
import { connectRedis, whenReady } from "../server/shared/state/redis.ts";
import { watchSentinelEvents } from "../server/shared/state/sentinel-events.ts";
import { sentinelUrl } from "../server/shared/state/sentinel-url.ts";

const [trials = 10, count = 4, failoverTimeout = 3000] = process.argv.slice(2, 5).map(Number);
const downAfter = (process.argv[5] ?? "3000").split(",").map(Number);
const downAfterOf = (i: number) => downAfter[i] ?? downAfter[downAfter.length - 1] ?? 3000;
const dir = mkdtempSync(join(tmpdir(), "dropship-election-"));
const redisPids: number[] = [];
const sentinelPids: number[] = [];

function redis(name: string, port: number, extra: string[]) {
  const argv = ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--dir", dir];
  argv.push("--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0", ...extra);
  redisPids.push(startDaemon(argv, {}, join(dir, `${name}.log`)));
}

function sentinel(i: number, port: number, primaryPort: number) {
  const conf = [
    `port ${port}`,
    "bind 127.0.0.1",
    `dir ${dir}`,
    `sentinel monitor dropship 127.0.0.1 ${primaryPort} 2`,
    `sentinel down-after-milliseconds dropship ${downAfterOf(i)}`,
    `sentinel failover-timeout dropship ${failoverTimeout}`,
  ];
  writeFileSync(join(dir, `sentinel-${i}.conf`), `${conf.join("\n")}\n`);
  sentinelPids.push(
    startDaemon(
      ["redis-server", join(dir, `sentinel-${i}.conf`), "--sentinel"],
      {},
      join(dir, `sentinel-${i}.log`),
    ),
  );
}

const ports = [freePort(), freePort()];
redis("redis-0", ports[0] as number, []);
redis("redis-1", ports[1] as number, ["--replicaof", "127.0.0.1", String(ports[0])]);
const sentinelPorts = Array.from({ length: count }, () => freePort());
for (const [i, port] of sentinelPorts.entries()) sentinel(i, port, ports[0] as number);
await Bun.sleep(500);
const clients = sentinelPorts.map(
  (port) => new Redis({ port, host: "127.0.0.1", lazyConnect: false, maxRetriesPerRequest: 1 }),
);
for (const client of clients) client.on("error", () => {});

async function view(client: Redis) {
  const [host, port] = (await client.call("SENTINEL", "get-master-addr-by-name", "dropship")) as [
    string,
    string,
  ];
  const master = (await client.call("SENTINEL", "master", "dropship")) as string[];
  const field = (name: string) => master[master.indexOf(name) + 1];
  return {
    port: Number(port),
    host,
    replicas: Number(field("num-slaves")),
    sentinels: Number(field("num-other-sentinels")),
    flags: field("flags"),
  };
}

/** Every Sentinel names `primary`, knows the others and one healthy replica. */
async function whole(primary: number) {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    try {
      const views = await Promise.all(clients.map(view));
      const replicasOk = await Promise.all(
        clients.map(async (c) => {
          const list = (await c.call("SENTINEL", "replicas", "dropship")) as string[][];
          return (
            list.length === 1 && !String(list[0]?.[list[0].indexOf("flags") + 1]).includes("down")
          );
        }),
      );
      if (
        views.every(
          (v) => v.port === primary && v.sentinels === count - 1 && v.flags === "master",
        ) &&
        replicasOk.every(Boolean)
      )
        return;
    } catch {}
    await Bun.sleep(250);
  }
  throw new Error("the Sentinels did not agree again within 120 s");
}

await whole(ports[0] as number);
// our own client, as the proxy and the CLI make it: when does a write work again?
const host = "127.0.0.1";
const target = {
  username: "",
  password: "",
  name: "dropship",
  db: 0,
  sentinels: sentinelPorts.map((port) => ({ host, port })),
  sentinelPassword: "",
};
const url = sentinelUrl(target);
const client = connectRedis(url, { purpose: "bench", persistent: true, log: () => {} });
await whenReady(client, url, 10_000);
const results: { ms: number; splits: number; tries: number; writeMs: number }[] = [];
let primaryIndex = 0;
for (let trial = 0; trial < trials; trial++) {
  const lost = primaryIndex;
  const next = ports[1 - lost] as number;
  const live = clients.filter((_, i) => i !== lost);
  const told = watchSentinelEvents({
    ...target,
    sentinels: sentinelPorts.filter((_, i) => i !== lost).map((port) => ({ host, port })),
  });
  await Bun.sleep(300);
  const start = performance.now();
  const frozen = [redisPids[lost], sentinelPids[lost]] as number[];
  for (const pid of frozen) process.kill(pid, "SIGSTOP");
  // one write at a time from just after the loss, as a person changing a flag would retry
  const writing = (async () => {
    for (;;) {
      try {
        await client.set("bench-after", String(trial));
        return performance.now() - start;
      } catch {
        await Bun.sleep(100);
      }
    }
  })();
  let ms = 0;
  while (!ms) {
    const views = await Promise.all(live.map((c) => view(c).catch(() => undefined)));
    if (views.filter((v) => v?.port === next).length * 2 > live.length)
      ms = performance.now() - start;
    else if (performance.now() - start > 90_000) throw new Error("no failover within 90 s");
    else await Bun.sleep(20);
  }
  const { tries, notElected: splits } = told.elections();
  const writeMs = await writing;
  results.push({ ms, splits, tries, writeMs });
  console.log(
    `trial ${trial + 1}: new primary after ${(ms / 1000).toFixed(1)} s, a write worked again after ${(writeMs / 1000).toFixed(1)} s; ${tries} tries, ${splits} aborted (not elected)`,
  );
  told.stop();
  for (const pid of frozen) process.kill(pid, "SIGCONT");
  primaryIndex = 1 - lost;
  await whole(next);
}

const sorted = results.map((r) => r.ms).sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)] as number;
const split = results.filter((r) => r.splits > 0).length;
const writes = results.map((r) => r.writeMs).sort((a, b) => a - b);
console.log(
  `${count} Sentinels, failover-timeout ${failoverTimeout}, down-after ${downAfter.join(",")}: ` +
    `${split} of ${results.length} split; new primary after median ${(median / 1000).toFixed(1)} s, ` +
    `max ${((sorted.at(-1) ?? 0) / 1000).toFixed(1)} s; a write again after median ` +
    `${((writes[Math.floor(writes.length / 2)] ?? 0) / 1000).toFixed(1)} s, max ${((writes.at(-1) ?? 0) / 1000).toFixed(1)} s`,
);
client.disconnect();
for (const sentinelClient of clients) sentinelClient.disconnect();
for (const pid of [...redisPids, ...sentinelPids]) {
  try {
    process.kill(pid, "SIGCONT");
    process.kill(pid, "SIGKILL");
  } catch {}
}
rmSync(dir, { recursive: true, force: true });
