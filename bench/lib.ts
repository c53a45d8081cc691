import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startEmulatorDaemon } from "../scripts/lib/emulator.ts";
import { freePort, startDaemon, stopAll, waitForHttp } from "../scripts/lib/processes.ts";
import { childrenOf, cpuTicks } from "../server/shared/proc.ts";
import { backendIdFor } from "../server/shared/routing/model.ts";
import { connectRedis, whenReady } from "../server/shared/state/redis.ts";
import { changeCanary, putBackend } from "../server/shared/state/routing.ts";

export const ROOT = resolve(import.meta.dir, "..");
const pids: number[] = [];
const dir = mkdtempSync(join(tmpdir(), "dropship-bench-"));
/** Scratch space for this run's logs and configs, removed by cleanup(). */
export const workDir = dir;

/** `scripts/demo.ts` with its state in `dir`, each call run to completion. */
export function demoRunner(dir: string) {
  const env = { ...process.env, DROPSHIP_DEMO_DIR: dir };
  const demo = (args: string[]) =>
    Bun.spawnSync([process.execPath, join(ROOT, "scripts/demo.ts"), ...args], {
      cwd: ROOT,
      env,
      stdout: "pipe",
      stderr: "pipe",
    });
  return { demo, env };
}

/** Remembers a process this run started, so cleanup() stops it. */
export function trackPid(pid: number) {
  pids.push(pid);
}

/** A throwaway redis-server on a free loopback port with a password. */
export async function benchRedis(): Promise<{ url: string; port: number; pid: number }> {
  const port = freePort();
  const password = crypto.randomUUID().replaceAll("-", "");
  const argv = ["redis-server", "--port", String(port), "--bind", "127.0.0.1"];
  argv.push("--requirepass", password, "--dir", dir, "--save", "", "--appendonly", "no");
  // as the fleet's: a backup's (or a replica's) copy starts at once, not after 5 s
  argv.push("--repl-diskless-sync-delay", "0");
  const pid = startDaemon(argv, {}, join(dir, `redis-${port}.log`));
  pids.push(pid);
  const url = `redis://:${password}@127.0.0.1:${port}/0`;
  const probe = connectRedis(url, { purpose: "bench", persistent: true, log: () => {} });
  await whenReady(probe, url, 10_000);
  probe.disconnect();
  return { url, port, pid };
}

/**
 * bench/upstream.ts (a fixed small body) on a free port, once it answers; `prefix` goes before
 * the command (e.g. `taskset -c 0`).
 */
export async function startTrivialUpstream(prefix: string[] = []): Promise<string> {
  const port = freePort();
  const pid = startDaemon(
    [...prefix, process.execPath, join(ROOT, "bench/upstream.ts")],
    { PORT: String(port) },
    join(dir, `upstream-${port}.log`),
  );
  pids.push(pid);
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, 10_000, "upstream");
  return `http://127.0.0.1:${port}`;
}

/** The routing table: every upstream a production backend, no canary. */
export async function routeToProduction(redisUrl: string, upstreams: string[]): Promise<void> {
  const admin = connectRedis(redisUrl, { purpose: "bench", persistent: true });
  await whenReady(admin, redisUrl, 5000);
  for (const url of upstreams) {
    await putBackend(
      admin,
      { id: backendIdFor(url), url, track: "production", draining: false },
      "bench",
    );
  }
  await changeCanary(admin, { weight: 0 }, "bench");
  admin.disconnect();
}

/** One of our servers as its own process, once its health path answers. */
export async function benchServer(
  name: string,
  env: Record<string, string>,
  healthPath = "/healthz",
  root = ROOT,
) {
  // a PORT of the caller's: processes that share a port (reusePort), each started here
  const port = env.PORT ? Number(env.PORT) : freePort();
  const url = `http://127.0.0.1:${port}`;
  const pid = startDaemon(
    [process.execPath, join(root, `server/${name}/main.ts`)],
    { HOST: "127.0.0.1", PORT: String(port), ...env },
    join(dir, `${name}-${port}.log`),
  );
  pids.push(pid);
  await waitForHttp(`${url}${healthPath}`, 15_000, name);
  return { url, pid };
}

export async function cleanup() {
  await stopAll(pids);
  rmSync(dir, { recursive: true, force: true });
}

/**
 * wrk's report for `argv` (wrk and its options, after any `taskset` prefix), awaited: a bench
 * whose rounds ran wrk with spawnSync never yielded to the event loop, so it heard no Ctrl-C or
 * kill until its last round and left the servers it started running.
 */
export async function wrkOutput(argv: string[]): Promise<string> {
  const wrk = Bun.spawn(argv, { stdout: "pipe", stderr: "inherit" });
  const [out] = await Promise.all([new Response(wrk.stdout).text(), wrk.exited]);
  return out;
}

export interface WrkRun {
  rps: number;
  p50: number;
  p99: number;
  /** CPU the measured processes spent, a request (µs) */
  cpuMicros: number;
}

/**
 * One `wrk -t1 --latency` run against `url` (`extra` are more of wrk's options, such as
 * headers) with the CPU `pids` spent over it; wrk's errors are said on stderr with `label`.
 */
export async function wrkRun(
  url: string,
  pids: number[],
  options: { connections: number; seconds: number; extra?: string[]; label: string },
): Promise<WrkRun> {
  const before = pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
  const out = await wrkOutput([
    "wrk",
    "-t1",
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    "--latency",
    ...(options.extra ?? []),
    `${url}/`,
  ]);
  const after = pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: .*/.exec(out)?.[0];
  if (errors) console.error(`${options.label}: ${errors}`);
  const ticksPerSecond = 100;
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    p50: latencyMs(out, "50%"),
    p99: latencyMs(out, "99%"),
    cpuMicros: requests > 0 ? (((after - before) / ticksPerSecond) * 1e6) / requests : 0,
  };
}

/** A percentile's latency from wrk's --latency report, in ms. */
function latencyMs(out: string, percentile: string): number {
  const match = new RegExp(`${percentile}\\s+([\\d.]+)(us|ms|s)`).exec(out);
  if (!match) return Number.NaN;
  const value = Number(match[1]);
  return match[2] === "us" ? value / 1000 : match[2] === "s" ? value * 1000 : value;
}

// a bench stopped mid-run (Ctrl-C, or a kill by its pid) stops the servers it started too,
// rather than leaving them on their ports; its own `finally` never runs then
for (const name of ["SIGINT", "SIGTERM"] as const)
  process.once(name, () => {
    cleanup().finally(() => process.exit(name === "SIGINT" ? 130 : 143));
  });

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] as number;
}

export { childrenOf, cpuTicks };

export function rssMb(pid: number): number {
  return (
    Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024
  );
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** The DigitalOcean emulator on a free port, once it answers an authenticated call. */
export function benchEmulator(): Promise<{ token: string; apiUrl: string }> {
  return startEmulatorDaemon(join(dir, "emulator"), join(dir, "emulator.log"), trackPid);
}

/**
 * nginx with one worker in front of the upstreams (kept-alive connections to them), plain or
 * with a certificate; its processes are the master and its worker, for CPU and memory. With
 * `accessLog`, it logs each request there as the proxy does: buffered, 64 KB or 200 ms.
 */
export async function startNginx(
  upstreams: string[],
  tls?: { cert: string; key: string },
  workers: number | "auto" = 1,
  accessLog?: string,
) {
  const port = freePort();
  const nginxDir = join(dir, `nginx-${port}`);
  mkdirSync(join(nginxDir, "logs"), { recursive: true });
  const listen = tls
    ? `listen 127.0.0.1:${port} ssl;
    ssl_certificate ${tls.cert}; ssl_certificate_key ${tls.key};
    ssl_protocols TLSv1.2 TLSv1.3;`
    : `listen 127.0.0.1:${port};`;
  writeFileSync(
    join(nginxDir, "nginx.conf"),
    `worker_processes ${workers};
pid ${nginxDir}/nginx.pid;
error_log ${nginxDir}/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log ${accessLog ? `${accessLog} combined buffer=64k flush=200ms` : "off"};
  client_body_temp_path ${nginxDir}/body; proxy_temp_path ${nginxDir}/proxy;
  fastcgi_temp_path ${nginxDir}/fcgi; uwsgi_temp_path ${nginxDir}/uwsgi; scgi_temp_path ${nginxDir}/scgi;
  upstream apps { ${upstreams.map((u) => `server ${u.slice(7)};`).join(" ")} keepalive 256; }
  server {
    ${listen}
    location / { proxy_pass http://apps; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`,
  );
  const master = startDaemon(
    ["nginx", "-p", nginxDir, "-c", join(nginxDir, "nginx.conf"), "-g", "daemon off;"],
    {},
    join(nginxDir, "run.log"),
  );
  pids.push(master);
  const url = `${tls ? "https" : "http"}://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const answered = await fetch(`${url}/healthz`, { tls: { rejectUnauthorized: false } }).then(
      (r) => r.ok,
      () => false,
    );
    if (answered) break;
    if (Date.now() > deadline) throw new Error(`nginx did not answer at ${url} within 10 s`);
    await Bun.sleep(50);
  }
  return { url, pids: () => [master, ...childrenOf(master)] };
}

/**
 * The fields a browser sends with a page request to a site it has visited, as wrk arguments:
 * what real traffic's heads look like (wrk alone sends Host and nothing else).
 */
export const BROWSER_FIELDS = [
  "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
  "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
  "Accept-Language: en-GB,en;q=0.5",
  "Accept-Encoding: gzip, deflate, br, zstd",
  "Referer: http://shop.example/catalogue?page=2",
  "Cookie: dropship_client=bench-visitor-1; dropship_track=production; session=4f1c2a9e8b7d6c5f",
  "Connection: keep-alive",
  "Upgrade-Insecure-Requests: 1",
  "Sec-Fetch-Dest: document",
  "Sec-Fetch-Mode: navigate",
  "Sec-Fetch-Site: same-origin",
  "Priority: u=0, i",
].flatMap((field) => ["-H", field]);
