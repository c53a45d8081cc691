/**
 * Why the proxy's workers cost more CPU a request than one process (issue 19's per-box row):
 * the same load on one process, on one process with half and a quarter of the connections
 * (fewer requests for each turn of its event loop), on the supervisor and its workers, on two
 * plain single processes sharing the port (the front binds with reusePort: no supervisor, no
 * reports), and on one worker with no supervisor (the worker's own code path).
 *
 *   bun bench/proxy-workers.ts [seconds=4] [rounds=5] [connections=50]
 *
 * Needs wrk. Each round runs every target once, in turn; the table gives medians over the rounds.
 */
import { freePort } from "../scripts/lib/processes.ts";
import {
  benchRedis,
  benchServer,
  childrenOf,
  cleanup,
  median,
  routeToProduction,
  startTrivialUpstream,
  wrkRun,
} from "./lib.ts";

const [seconds = 4, rounds = 5, connections = 50] = process.argv.slice(2).map(Number);

try {
  if (!Bun.which("wrk")) throw new Error("wrk is missing — apt-get install wrk");
  const redis = await benchRedis();
  const upstreams = await Promise.all([0, 1].map(() => startTrivialUpstream()));
  await routeToProduction(redis.url, upstreams);
  const env = (workers: string) => ({
    REDIS_URL: redis.url,
    DROPSHIP_ADMIN_PORT: String(freePort()),
    DROPSHIP_PROXY_WORKERS: workers,
  });
  const health = "/_dropship/healthz";
  const single = await benchServer("proxy", env("1"), health);
  const supervised = await benchServer("proxy", env("2"), health);
  const loneWorker = await benchServer(
    "proxy",
    { ...env("1"), DROPSHIP_PROXY_WORKER: "1" },
    health,
  );
  // two single processes on one port, as the workers share theirs (the front binds with reusePort)
  const port = String(freePort());
  const first = await benchServer("proxy", { ...env("1"), PORT: port }, health);
  const second = await benchServer("proxy", { ...env("1"), PORT: port }, health);
  await Bun.sleep(1000); // the second listening: its health check may have been the first's answer

  const targets: { name: string; url: string; pids: () => number[]; connections: number }[] = [
    { name: "one process", url: single.url, pids: () => [single.pid], connections },
    {
      name: "one process, half the connections",
      url: single.url,
      pids: () => [single.pid],
      connections: Math.max(1, Math.round(connections / 2)),
    },
    {
      name: "one process, a quarter of the connections",
      url: single.url,
      pids: () => [single.pid],
      connections: Math.max(1, Math.round(connections / 4)),
    },
    {
      name: "supervisor and 2 workers",
      url: supervised.url,
      pids: () => [supervised.pid, ...childrenOf(supervised.pid)],
      connections,
    },
    {
      name: "2 single processes on one port",
      url: first.url,
      pids: () => [first.pid, second.pid],
      connections,
    },
    {
      name: "1 worker, no supervisor",
      url: loneWorker.url,
      pids: () => [loneWorker.pid],
      connections,
    },
  ];
  const runs = new Map<string, { rps: number; cpu: number; p99: number }[]>();
  for (let round = 1; round <= rounds; round++) {
    for (const target of targets) {
      const run = await wrkRun(target.url, target.pids(), {
        connections: target.connections,
        seconds,
        label: target.name,
      });
      runs.set(target.name, [
        ...(runs.get(target.name) ?? []),
        { rps: run.rps, cpu: run.cpuMicros, p99: run.p99 },
      ]);
    }
  }
  console.log(
    `\nwrk -t1 -d${seconds}s, the trivial upstream, medians of ${rounds} rounds (the machine's cores shared by wrk, proxies and upstreams)\n`,
  );
  console.log("| proxy | connections | req/s | proxy CPU µs/req | p99 ms |");
  console.log("|---|---|---|---|---|");
  for (const target of targets) {
    const of = runs.get(target.name) ?? [];
    console.log(
      `| ${target.name} | ${target.connections} | ${median(of.map((r) => r.rps)).toFixed(0)} | ${median(of.map((r) => r.cpu)).toFixed(1)} | ${median(of.map((r) => r.p99)).toFixed(2)} |`,
    );
  }
} catch (error) {
  console.error(`bench/proxy-workers: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
