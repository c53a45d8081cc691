/**
 * Throughput and latency through dropship-proxy next to nginx, HAProxy and Caddy, in one run:
 * first one process (or worker, or thread) each, then every core of the machine each.
 *
 *   bun bench/proxy.ts [seconds=10] [rounds=3] [connections=50] [upstream=trivial|app]
 *
 * `trivial` is bench/upstream.ts (a fixed small body); `app` is two dropship-app processes,
 * which read Redis on every request. Probes from bench/probes run beside them to show where
 * the time goes: the floor of a Bun.serve + fetch() proxy, of Bun.serve with a socket client
 * of its own, and of raw sockets on both sides.
 *
 * Needs wrk, nginx, haproxy and caddy (apt-get install wrk nginx-light haproxy caddy). Each
 * round runs every target once, in turn; the tables give medians over the rounds.
 *
 * BENCH_ONLY=<regex> runs only the targets whose names match (nginx is needed for the ratios).
 *
 * BENCH_BASELINE=<another checkout> adds that checkout's dropship-proxy as a target, so a change
 * is compared with what came before in the same run (git worktree add /tmp/base <commit>).
 *
 * BENCH_PROXY_VARIANT="NAME=VALUE …" adds one dropship-proxy process, and one with every core,
 * with those variables set for them alone, e.g. the runtime's own (BUN_JSC_useConcurrentGC=false),
 * so the upstream and the probes run as always.
 *
 * BENCH_ACCESS_LOG=1 adds one dropship-proxy process and one nginx worker that each write an
 * access log (the proxy's on the droplets; nginx's `combined`, buffered as the proxy's is).
 *
 * BENCH_POST=1 sends every target POSTs of a small form (a 16-byte body with its
 * Content-Length, as a shop's order) rather than GETs.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { freePort, startDaemon, waitForHttp } from "../scripts/lib/processes.ts";
import {
  benchRedis,
  benchServer,
  childrenOf,
  cleanup,
  median,
  ROOT,
  routeToProduction,
  rssMb,
  startNginx,
  startTrivialUpstream,
  trackPid,
  type WrkRun,
  workDir,
  wrkRun,
} from "./lib.ts";

const args = process.argv.slice(2);
const [seconds = 10, rounds = 3, connections = 50] = args.slice(0, 3).map(Number);
const upstreamKind = args[3] ?? "trivial";
if (upstreamKind !== "trivial" && upstreamKind !== "app") {
  console.error(`bench/proxy: the upstream is ${upstreamKind} — use trivial or app`);
  await cleanup();
  process.exit(2);
}
for (const tool of ["wrk", "nginx", "haproxy", "caddy"]) {
  if (!Bun.which(tool, { PATH: `${process.env.PATH}:/usr/sbin` })) {
    console.error(
      `bench/proxy: ${tool} is missing — apt-get install wrk nginx-light haproxy caddy`,
    );
    await cleanup(); // lib.ts made its scratch directory on import
    process.exit(1);
  }
}

interface Target {
  name: string;
  url: string;
  /** the processes whose CPU and memory count as the proxy's */
  pids: () => number[];
  /** "core": one process, worker or thread; "box": every core */
  scope: "core" | "box" | "none";
  headers?: string[];
}

const cores = availableParallelism();
/** wrk's script for BENCH_POST: every request a POST of a small form */
const postScript = process.env.BENCH_POST === "1" ? join(workDir, "post.lua") : undefined;
if (postScript) {
  writeFileSync(
    postScript,
    `wrk.method = "POST"\nwrk.body = "item=42&count=1&"\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n`,
  );
}

try {
  const redis = await benchRedis();
  const upstreams = await Promise.all(
    [0, 1].map(() => (upstreamKind === "app" ? startApp(redis.url) : startTrivialUpstream())),
  );
  await routeToProduction(redis.url, upstreams);

  const dropshipEnv = (workers: string) => ({
    REDIS_URL: redis.url,
    DROPSHIP_ADMIN_PORT: String(freePort()),
    DROPSHIP_PROXY_WORKERS: workers,
  });
  const dropship = await benchServer("proxy", dropshipEnv("1"), "/_dropship/healthz");
  // the PROXY protocol front (proxy.proxy_protocol) costs a loopback hop per connection's bytes;
  // wrk sends no header, which a trusted peer may do, so this measures that hop alone
  const frontConfig = join(workDir, "proxy-protocol.yml");
  writeFileSync(frontConfig, "proxy: { proxy_protocol: true, trusted_proxies: [127.0.0.1/32] }\n");
  const fronted = await benchServer(
    "proxy",
    { ...dropshipEnv("1"), DROPSHIP_CONFIG: frontConfig },
    "/_dropship/healthz",
  );
  // every request through Bun.serve, as before the own front (DROPSHIP_PROXY_ENGINE=serve)
  const served = await benchServer(
    "proxy",
    { ...dropshipEnv("1"), DROPSHIP_PROXY_ENGINE: "serve" },
    "/_dropship/healthz",
  );
  const dropshipBox = await benchServer("proxy", dropshipEnv("auto"), "/_dropship/healthz");
  const variantEnv = Object.fromEntries(
    (process.env.BENCH_PROXY_VARIANT ?? "")
      .split(/\s+/)
      .filter(Boolean)
      .map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]),
  );
  const variant = process.env.BENCH_PROXY_VARIANT
    ? await benchServer("proxy", { ...dropshipEnv("1"), ...variantEnv }, "/_dropship/healthz")
    : undefined;
  const variantBox = process.env.BENCH_PROXY_VARIANT
    ? await benchServer("proxy", { ...dropshipEnv("auto"), ...variantEnv }, "/_dropship/healthz")
    : undefined;
  const baselineRoot = process.env.BENCH_BASELINE;
  const baseline = baselineRoot
    ? await benchServer("proxy", dropshipEnv("1"), "/_dropship/healthz", baselineRoot)
    : undefined;
  const nginx = await startNginx(upstreams);
  const withLogs = process.env.BENCH_ACCESS_LOG === "1";
  const logged = withLogs
    ? await benchServer(
        "proxy",
        { ...dropshipEnv("1"), DROPSHIP_ACCESS_LOG: join(workDir, "dropship-access.log") },
        "/_dropship/healthz",
      )
    : undefined;
  const nginxLogged = withLogs
    ? await startNginx(upstreams, undefined, 1, join(workDir, "nginx-access.log"))
    : undefined;
  const nginxBox = await startNginx(upstreams, undefined, "auto");
  const haproxy = await startHaproxy(upstreams);
  const caddy = await startCaddy(upstreams, 1);
  const caddyBox = await startCaddy(upstreams, cores);
  const fetchFloor = await startProbe("fetch-floor", upstreams);
  const socketClient = await startProbe("socket-client", upstreams);
  const rawSockets = await startProbe("raw-sockets", upstreams);
  const returning = ["-H", "Cookie: dropship_client=bench-visitor-1; dropship_track=production"];
  const withChildren = (pid: number) => () => [pid, ...childrenOf(pid)];
  const targets: Target[] = [
    { name: "direct to one upstream", url: upstreams[0] as string, pids: () => [], scope: "none" },
    {
      name: "dropship-proxy (1 process)",
      url: dropship.url,
      pids: () => [dropship.pid],
      scope: "core",
    },
    {
      name: "dropship-proxy (1 process), returning visitors",
      url: dropship.url,
      pids: () => [dropship.pid],
      scope: "core",
      headers: returning,
    },
    {
      name: "dropship-proxy (1 process), all by Bun.serve",
      url: served.url,
      pids: () => [served.pid],
      scope: "core",
    },
    {
      name: "dropship-proxy (1 process), behind its PROXY protocol front",
      url: fronted.url,
      pids: () => [fronted.pid],
      scope: "core",
    },
    ...(variant
      ? [
          {
            name: `dropship-proxy (1 process), ${process.env.BENCH_PROXY_VARIANT}`,
            url: variant.url,
            pids: () => [variant.pid],
            scope: "core" as const,
          },
        ]
      : []),
    ...(baseline
      ? [
          {
            name: "dropship-proxy, baseline",
            url: baseline.url,
            pids: () => [baseline.pid],
            scope: "core" as const,
          },
        ]
      : []),
    { name: "nginx (1 worker, keepalive 256)", url: nginx.url, pids: nginx.pids, scope: "core" },
    ...(logged && nginxLogged
      ? [
          {
            name: "dropship-proxy (1 process), access log",
            url: logged.url,
            pids: () => [logged.pid],
            scope: "core" as const,
          },
          {
            name: "nginx (1 worker), access log",
            url: nginxLogged.url,
            pids: nginxLogged.pids,
            scope: "core" as const,
          },
        ]
      : []),
    { name: "HAProxy (1 thread)", url: haproxy.url, pids: () => [haproxy.pid], scope: "core" },
    { name: "Caddy (GOMAXPROCS=1)", url: caddy.url, pids: () => [caddy.pid], scope: "core" },
    {
      name: "probe: bare Bun.serve + fetch()",
      url: fetchFloor.url,
      pids: () => [fetchFloor.pid],
      scope: "core",
    },
    {
      name: "probe: Bun.serve + own socket client",
      url: socketClient.url,
      pids: () => [socketClient.pid],
      scope: "core",
    },
    {
      name: "probe: raw sockets both sides",
      url: rawSockets.url,
      pids: () => [rawSockets.pid],
      scope: "core",
    },
    {
      name: `dropship-proxy (workers: auto = ${cores})`,
      url: dropshipBox.url,
      pids: withChildren(dropshipBox.pid),
      scope: "box",
    },
    ...(variantBox
      ? [
          {
            name: `dropship-proxy (workers: auto), ${process.env.BENCH_PROXY_VARIANT}`,
            url: variantBox.url,
            pids: withChildren(variantBox.pid),
            scope: "box" as const,
          },
        ]
      : []),
    { name: "nginx (worker_processes auto)", url: nginxBox.url, pids: nginxBox.pids, scope: "box" },
    {
      name: `Caddy (GOMAXPROCS=${cores})`,
      url: caddyBox.url,
      pids: () => [caddyBox.pid],
      scope: "box",
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

  const rpsOf = (name: string) => median((results.get(name) ?? []).map((r) => r.rps));
  console.log(
    `\nwrk -t1 -c${connections} -d${seconds}s, ${upstreamKind} upstream${postScript ? ", POSTs of a 16-byte form" : ""}, medians of ${rounds} rounds (${cores} cores shared by wrk, proxy and upstreams)`,
  );
  const table = (title: string, scope: Target["scope"][], nginxName: string, caddyName: string) => {
    console.log(`\n${title}\n`);
    console.log(
      "| path | req/s | vs nginx | vs Caddy | p50 ms | p99 ms | p99 vs nginx | proxy CPU µs/req | proxy RSS MB |",
    );
    console.log("|---|---|---|---|---|---|---|---|---|");
    const nginxRps = rpsOf(nginxName);
    const caddyRps = rpsOf(caddyName);
    const nginxP99 = median((results.get(nginxName) ?? []).map((r) => r.p99));
    for (const target of targets.filter((t) => scope.includes(t.scope))) {
      const runs = results.get(target.name) ?? [];
      const rps = median(runs.map((r) => r.rps));
      const p99 = median(runs.map((r) => r.p99));
      const measured = target.scope !== "none";
      const cpu = measured ? median(runs.map((r) => r.cpuMicros)).toFixed(1) : "—";
      const rss = measured ? median(runs.map((r) => r.rssMb)).toFixed(0) : "—";
      console.log(
        `| ${target.name} | ${rps.toFixed(0)} | ${(rps / nginxRps).toFixed(2)}× | ${(rps / caddyRps).toFixed(2)}× | ${median(runs.map((r) => r.p50)).toFixed(2)} | ${p99.toFixed(2)} | ${(p99 / nginxP99).toFixed(2)}× | ${cpu} | ${rss} |`,
      );
    }
  };
  table(
    "One core each",
    ["none", "core"],
    "nginx (1 worker, keepalive 256)",
    "Caddy (GOMAXPROCS=1)",
  );
  table("Every core each", ["box"], "nginx (worker_processes auto)", `Caddy (GOMAXPROCS=${cores})`);
} finally {
  await cleanup();
}

interface Run extends WrkRun {
  rssMb: number;
}

async function measure(target: Target): Promise<Run> {
  const pids = target.pids();
  const run = await wrkRun(target.url, pids, {
    connections,
    seconds,
    extra: [...(target.headers ?? []), ...(postScript ? ["-s", postScript] : [])],
    label: target.name,
  });
  return { ...run, rssMb: pids.reduce((sum, pid) => sum + rssMb(pid), 0) };
}

async function startApp(redisUrl: string): Promise<string> {
  const app = await benchServer("app", { REDIS_URL: redisUrl });
  return app.url;
}

/** Caddy's reverse_proxy (Go net/http, as kamal-proxy) with `procs` cores. */
async function startCaddy(upstreams: string[], procs: number) {
  const port = freePort();
  const dir = join(workDir, `caddy-${port}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "Caddyfile"),
    `{
  admin off
  auto_https off
}
http://127.0.0.1:${port} {
  bind 127.0.0.1
  reverse_proxy ${upstreams.map((u) => u.slice(7)).join(" ")} {
    lb_policy round_robin
  }
}
`,
  );
  const pid = startDaemon(
    ["caddy", "run", "--adapter", "caddyfile", "--config", join(dir, "Caddyfile")],
    { GOMAXPROCS: String(procs), XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir, HOME: dir },
    join(dir, "run.log"),
  );
  trackPid(pid);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/healthz`, 10_000, "caddy");
  return { url, pid };
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
