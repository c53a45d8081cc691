/**
 * What a request costs on a keep-alive connection that carries POSTs among its GETs: the own
 * front passed every request with a body to Bun.serve until session 64, and answers a small
 * one itself since. One dropship-proxy process
 * on the trivial upstream; 20 connections, each asking one request at a time.
 *
 *   bun bench/passed-connection.ts [requests a connection=2000] [rounds=3]
 *
 * BENCH_BASELINE=<another checkout> runs that checkout's proxy beside this one's, in turn
 * within each round (git worktree add /tmp/base <commit>; ln -s $PWD/node_modules /tmp/base/).
 */
import { freePort } from "../scripts/lib/processes.ts";
import {
  benchRedis,
  benchServer,
  childrenOf,
  cleanup,
  cpuTicks,
  median,
  routeToProduction,
  startTrivialUpstream,
} from "./lib.ts";

const [perConnection = 2000, rounds = 3] = process.argv.slice(2).map(Number);
const CONNECTIONS = 20;
const encode = (text: string) => new TextEncoder().encode(text);
const FIELDS =
  "Host: shop.example\r\nUser-Agent: bench\r\nAccept: */*\r\nCookie: dropship_client=4f2a9c1e-0000-4000-8000-000000000001; dropship_track=production\r\n";
const GET = encode(`GET /orders/42 HTTP/1.1\r\n${FIELDS}\r\n`);
const POST = encode(
  `POST /orders HTTP/1.1\r\n${FIELDS}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 16\r\n\r\nitem=42&count=1&`,
);

/** The request a connection sends `i`th. */
const patterns: [string, (i: number) => Uint8Array][] = [
  ["GETs only (the front's own)", () => GET],
  ["one POST, then GETs", (i) => (i === 0 ? POST : GET)],
  ["a POST every 4th request", (i) => (i % 4 === 0 ? POST : GET)],
  ["POST and GET in turn", (i) => (i % 2 === 0 ? POST : GET)],
  ["POSTs only", () => POST],
];

/** One connection asking its requests one after another, each once the answer before is in. */
async function visitor(port: number, pattern: (i: number) => Uint8Array): Promise<void> {
  let answered = () => {};
  let got = "";
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_socket, bytes) {
        got += bytes.toString("latin1");
        const end = got.indexOf("\r\n\r\n");
        const length = /content-length: (\d+)\r\n/i.exec(got);
        if (end < 0 || !length) return;
        const size = end + 4 + Number(length[1]);
        if (got.length < size) return;
        got = got.slice(size);
        answered();
      },
    },
  });
  for (let i = 0; i < perConnection; i++) {
    await new Promise<void>((resolve) => {
      answered = resolve;
      socket.write(pattern(i));
    });
  }
  socket.end();
}

/** CPU µs a request the proxy spent, and requests a second. */
async function measure(
  proxy: { port: number; pids: () => number[] },
  pattern: (i: number) => Uint8Array,
) {
  const cpu = () => proxy.pids().reduce((sum, pid) => sum + cpuTicks(pid), 0);
  const ticks = cpu();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONNECTIONS }, () => visitor(proxy.port, pattern)));
  const seconds = (performance.now() - t0) / 1000;
  const requests = CONNECTIONS * perConnection;
  return { cpuMicros: ((cpu() - ticks) * 10_000) / requests, rps: requests / seconds };
}

try {
  const redis = await benchRedis();
  await routeToProduction(redis.url, [await startTrivialUpstream(), await startTrivialUpstream()]);
  const start = async (root?: string) => {
    const env = {
      REDIS_URL: redis.url,
      DROPSHIP_ADMIN_PORT: String(freePort()),
      DROPSHIP_PROXY_WORKERS: "1",
    };
    const server = await benchServer("proxy", env, "/_dropship/healthz", root);
    return {
      port: Number(new URL(server.url).port),
      pids: () => [server.pid, ...childrenOf(server.pid)],
    };
  };
  const proxies: [string, Awaited<ReturnType<typeof start>>][] = [["this checkout", await start()]];
  const baseline = process.env.BENCH_BASELINE;
  if (baseline) proxies.push([`baseline (${baseline})`, await start(baseline)]);
  const results = new Map<string, { cpuMicros: number; rps: number }[]>();
  // warm up every path of every proxy once
  for (const [, proxy] of proxies)
    for (const [, pattern] of patterns) await measure(proxy, pattern);
  for (let round = 0; round < rounds; round++) {
    for (const [patternName, pattern] of patterns) {
      for (const [proxyName, proxy] of proxies) {
        const key = `${patternName}\t${proxyName}`;
        results.set(key, [...(results.get(key) ?? []), await measure(proxy, pattern)]);
      }
    }
  }
  console.log(
    `medians of ${rounds} rounds, ${CONNECTIONS} connections of ${perConnection} requests\n`,
  );
  console.log("| requests on a connection | proxy | CPU µs a request | req/s |");
  console.log("|---|---|---|---|");
  for (const [key, runs] of results) {
    const [patternName, proxyName] = key.split("\t");
    const cpu = median(runs.map((r) => r.cpuMicros)).toFixed(1);
    const rps = Math.round(median(runs.map((r) => r.rps)));
    console.log(`| ${patternName} | ${proxyName} | ${cpu} | ${rps} |`);
  }
} finally {
  await cleanup();
}
