/**
 * Throughput and latency through dropship-proxy, next to the same two upstreams reached
 * directly, through nginx (1 worker) and through HAProxy (1 thread), in one run.
 *
 *   bun bench/proxy.ts [seconds=10] [rounds=3] [connections=50]
 *
 * A probe from bench/probes runs beside them to show where the time goes: the floor of any
 * Bun.serve + fetch() proxy, with no routing and no header work.
 *
 * Needs wrk, nginx and haproxy (apt-get install wrk nginx-light haproxy). Each round runs every
 * target once, in turn; the table gives medians over the rounds.
 *
 * BENCH_ONLY=<regex> runs only the targets whose names match (nginx is needed for the ratios).
 *
 * BENCH_BASELINE=<another checkout> adds that checkout's dropship-proxy as a target, so a change
 * is compared with what came before in the same run (git worktree add /tmp/base <commit>).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, startDaemon, waitForHttp } from "../scripts/lib/processes.ts";
import { backendIdFor } from "../server/shared/routing/model.ts";
import { connectRedis, whenReady } from "../server/shared/state/redis.ts";
import { changeCanary, putBackend } from "../server/shared/state/routing.ts";
import {
  benchRedis,
  benchServer,
  cleanup,
  cpuTicks,
  median,
  ROOT,
  rssMb,
  startNginx,
  trackPid,
  workDir,
} from "./lib.ts";

const [seconds = 10, rounds = 3, connections = 50] = process.argv.slice(2).map(Number);
for (const tool of ["wrk", "nginx", "haproxy"]) {
  if (!Bun.which(tool, { PATH: `${process.env.PATH}:/usr/sbin` })) {
    console.error(`bench/proxy: ${tool} is missing — apt-get install wrk nginx-light haproxy`);
    process.exit(1);
  }
}

interface Target {
  name: string;
  url: string;
  /** the processes whose CPU and memory count as the proxy's */
  pids: () => number[];
}

try {
  const upstreams = await Promise.all([0, 1].map(() => startUpstream()));
  const redis = await benchRedis();
  const admin = connectRedis(redis.url, { purpose: "bench", persistent: true });
  await whenReady(admin, redis.url, 5000);
  for (const url of upstreams) {
    await putBackend(
      admin,
      { id: backendIdFor(url), url, track: "production", draining: false },
      "bench",
    );
  }
  await changeCanary(admin, { weight: 0 }, "bench");
  admin.disconnect();

  const dropship = await benchServer(
    "proxy",
    { REDIS_URL: redis.url, DROPSHIP_ADMIN_PORT: String(freePort()) },
    "/_dropship/healthz",
  );
  const baselineRoot = process.env.BENCH_BASELINE;
  const baseline = baselineRoot
    ? await benchServer(
        "proxy",
        { REDIS_URL: redis.url, DROPSHIP_ADMIN_PORT: String(freePort()) },
        "/_dropship/healthz",
        baselineRoot,
      )
    : undefined;
  const nginx = await startNginx(upstreams);
  const haproxy = await startHaproxy(upstreams);
  const fetchFloor = await startProbe("fetch-floor", upstreams);
  const socketClient = await startProbe("socket-client", upstreams);
  const rawSockets = await startProbe("raw-sockets", upstreams);
  const targets: Target[] = [
    { name: "direct to one upstream", url: upstreams[0] as string, pids: () => [] },
    { name: "dropship-proxy (1 process)", url: dropship.url, pids: () => [dropship.pid] },
    ...(baseline
      ? [{ name: "dropship-proxy, baseline", url: baseline.url, pids: () => [baseline.pid] }]
      : []),
    { name: "nginx (1 worker, keepalive 256)", url: nginx.url, pids: nginx.pids },
    { name: "HAProxy (1 thread)", url: haproxy.url, pids: () => [haproxy.pid] },
    { name: "probe: bare Bun.serve + fetch()", url: fetchFloor.url, pids: () => [fetchFloor.pid] },
    {
      name: "probe: Bun.serve + own socket client",
      url: socketClient.url,
      pids: () => [socketClient.pid],
    },
    {
      name: "probe: raw sockets both sides",
      url: rawSockets.url,
      pids: () => [rawSockets.pid],
    },
  ];

  const only = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY, "i") : undefined;
  if (only) targets.splice(0, targets.length, ...targets.filter((t) => only.test(t.name)));
  const results = new Map<string, Run[]>();
  for (let round = 1; round <= rounds; round++) {
    for (const target of targets) {
      const run = await measure(target);
      results.set(target.name, [...(results.get(target.name) ?? []), run]);
      console.error(
        `round ${round} ${target.name}: ${run.rps.toFixed(0)} req/s, p99 ${run.p99.toFixed(2)} ms`,
      );
    }
  }

  const nginxRps = median((results.get("nginx (1 worker, keepalive 256)") ?? []).map((r) => r.rps));
  console.log(
    `\nwrk -t1 -c${connections} -d${seconds}s, medians of ${rounds} rounds (2 cores shared by wrk, proxy and upstreams)\n`,
  );
  console.log("| path | req/s | vs nginx | p50 ms | p99 ms | proxy CPU µs/req | proxy RSS MB |");
  console.log("|---|---|---|---|---|---|---|");
  for (const target of targets) {
    const runs = results.get(target.name) ?? [];
    const rps = median(runs.map((r) => r.rps));
    const cpu = target.pids().length ? median(runs.map((r) => r.cpuMicros)).toFixed(1) : "—";
    const rss = target.pids().length ? median(runs.map((r) => r.rssMb)).toFixed(0) : "—";
    console.log(
      `| ${target.name} | ${rps.toFixed(0)} | ${(rps / nginxRps).toFixed(2)}× | ${median(runs.map((r) => r.p50)).toFixed(2)} | ${median(runs.map((r) => r.p99)).toFixed(2)} | ${cpu} | ${rss} |`,
    );
  }
} finally {
  await cleanup();
}

interface Run {
  rps: number;
  p50: number;
  p99: number;
  cpuMicros: number;
  rssMb: number;
}

async function measure(target: Target): Promise<Run> {
  const pids = target.pids();
  const cpuBefore = pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
  const wrk = Bun.spawnSync(
    ["wrk", "-t1", `-c${connections}`, `-d${seconds}s`, "--latency", `${target.url}/`],
    {
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const out = wrk.stdout.toString();
  const cpuAfter = pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: .*/.exec(out)?.[0];
  if (errors) console.error(`${target.name}: ${errors}`);
  const ticksPerSecond = 100;
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    p50: latencyMs(out, "50%"),
    p99: latencyMs(out, "99%"),
    cpuMicros: requests > 0 ? (((cpuAfter - cpuBefore) / ticksPerSecond) * 1e6) / requests : 0,
    rssMb: pids.reduce((sum, pid) => sum + rssMb(pid), 0),
  };
}

function latencyMs(out: string, percentile: string): number {
  const match = new RegExp(`${percentile}\\s+([\\d.]+)(us|ms|s)`).exec(out);
  if (!match) return Number.NaN;
  const value = Number(match[1]);
  return match[2] === "us" ? value / 1000 : match[2] === "s" ? value * 1000 : value;
}

async function startUpstream(): Promise<string> {
  const port = freePort();
  const pid = startDaemon(
    [process.execPath, join(ROOT, "bench/upstream.ts")],
    { PORT: String(port) },
    join(workDir, `upstream-${port}.log`),
  );
  trackPid(pid);
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, 10_000, "upstream");
  return `http://127.0.0.1:${port}`;
}

async function startProbe(name: string, upstreams: string[]) {
  const port = freePort();
  const pid = startDaemon(
    [process.execPath, join(ROOT, `bench/probes/${name}.ts`)],
    { PORT: String(port), UPSTREAMS: upstreams.join(",") },
    join(workDir, `${name}.log`),
  );
  trackPid(pid);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/healthz`, 10_000, name);
  return { url, pid };
}

async function startHaproxy(upstreams: string[]) {
  const port = freePort();
  const dir = join(workDir, "haproxy");
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "haproxy.cfg"),
    `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend web
  bind 127.0.0.1:${port}
  default_backend apps
backend apps
  balance roundrobin
${upstreams.map((u, i) => `  server app${i} ${u.slice(7)}`).join("\n")}
`,
  );
  const pid = startDaemon(
    ["haproxy", "-db", "-f", join(dir, "haproxy.cfg")],
    {},
    join(dir, "run.log"),
  );
  trackPid(pid);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/healthz`, 10_000, "haproxy");
  return { url, pid };
}
