/**
 * One dropship-proxy against another, in one run, as the per-request CPU of each: for telling
 * a change of 5–10% from this machine's noise, which bench/proxy.ts (one process a row, one
 * order) cannot. Identical proxies started side by side differ by up to 10% between processes
 * here, and whichever runs first in a round gains, so each variant runs as several processes
 * and every round goes through them all in a new random order. The proxies are pinned to the
 * last core, everything else (wrk, the upstreams, Redis) to the others, so a proxy's CPU is its
 * own work and not a share of a core it fights wrk for.
 *
 *   bun bench/proxy-ab.ts <checkout>[,NAME=VALUE…] <checkout>[,NAME=VALUE…] …
 *
 * e.g. `git worktree add /tmp/before HEAD~1`, then `bun bench/proxy-ab.ts /tmp/before .`.
 * BENCH_AB_PROCESSES (3), BENCH_AB_ROUNDS (5), BENCH_AB_SECONDS (3) and BENCH_AB_CONNECTIONS
 * (50) set the run; BENCH_AB_BROWSER=1 sends a browser's fields (lib.ts BROWSER_FIELDS) rather
 * than wrk's bare Host; the trivial upstream is used. Needs wrk and taskset.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { freePort, startDaemon, waitForHttp } from "../scripts/lib/processes.ts";
import {
  BROWSER_FIELDS,
  benchRedis,
  cleanup,
  cpuTicks,
  median,
  routeToProduction,
  startTrivialUpstream,
  trackPid,
  workDir,
  wrkOutput,
} from "./lib.ts";

const variants = process.argv.slice(2);
if (variants.length === 0) {
  console.error(
    "bench/proxy-ab: name at least one checkout, e.g. bun bench/proxy-ab.ts /tmp/before .",
  );
  await cleanup();
  process.exit(2);
}
if (!Bun.which("wrk")) {
  console.error("bench/proxy-ab: wrk is missing — apt-get install wrk");
  await cleanup(); // lib.ts made its scratch directory on import
  process.exit(1);
}
const setting = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const processes = setting("BENCH_AB_PROCESSES", 3);
const rounds = setting("BENCH_AB_ROUNDS", 5);
const seconds = setting("BENCH_AB_SECONDS", 3);
const connections = setting("BENCH_AB_CONNECTIONS", 50);
const fields = process.env.BENCH_AB_BROWSER === "1" ? BROWSER_FIELDS : [];
const cores = availableParallelism();
const proxyCore = ["taskset", "-c", String(cores - 1)];
const otherCores = cores > 1 ? ["taskset", "-c", `0-${cores - 2}`] : [];

interface Run {
  variant: string;
  url: string;
  pid: number;
  cpu: number[];
  rps: number[];
  faults: number[];
}

function minorFaults(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1] ?? "";
  return Number(fields.split(" ")[7]);
}

async function wrk(url: string, duration: number): Promise<{ requests: number; rps: number }> {
  const out = await wrkOutput([
    ...otherCores,
    "wrk",
    "-t1",
    `-c${connections}`,
    `-d${duration}s`,
    ...fields,
    url,
  ]);
  return {
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? 0),
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
  };
}

try {
  const redis = await benchRedis();
  const upstreams = await Promise.all([0, 1].map(() => startTrivialUpstream(otherCores)));
  await routeToProduction(redis.url, upstreams);
  const runs: Run[] = [];
  for (const variant of variants) {
    const [checkout = ".", ...pairs] = variant.split(",");
    const env = Object.fromEntries(
      pairs.map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]),
    );
    for (let i = 0; i < processes; i++) {
      const port = freePort();
      const pid = startDaemon(
        [...proxyCore, process.execPath, join(resolve(checkout), "server/proxy/main.ts")],
        {
          HOST: "127.0.0.1",
          PORT: String(port),
          REDIS_URL: redis.url,
          DROPSHIP_ADMIN_PORT: String(freePort()),
          DROPSHIP_PROXY_WORKERS: "1",
          ...env,
        },
        join(workDir, `proxy-${port}.log`),
      );
      trackPid(pid);
      const url = `http://127.0.0.1:${port}`;
      await waitForHttp(`${url}/_dropship/healthz`, 15_000, `proxy of ${variant}`);
      runs.push({ variant, url: `${url}/`, pid, cpu: [], rps: [], faults: [] });
    }
  }
  for (const run of runs) await wrk(run.url, 2); // warm: the JIT tiers up before anything counts
  for (let round = 1; round <= rounds; round++) {
    for (const run of [...runs].sort(() => Math.random() - 0.5)) {
      const ticks = cpuTicks(run.pid);
      const faults = minorFaults(run.pid);
      const { requests, rps } = await wrk(run.url, seconds);
      // clock ticks are 10 ms: µs a request = ticks × 10⁴ / requests
      run.cpu.push(((cpuTicks(run.pid) - ticks) * 1e4) / requests);
      run.faults.push((minorFaults(run.pid) - faults) / requests);
      run.rps.push(rps);
    }
    console.log(`round ${round} of ${rounds} done`);
  }
  console.log(
    `\n${processes} processes a variant, ${rounds} rounds of wrk -t1 -c${connections} -d${seconds}s${fields.length ? " with a browser's fields" : ""} in shuffled order; proxies on core ${cores - 1}; medians over every process and round\n`,
  );
  console.log("| variant | proxy CPU µs/req | per process | req/s | minor faults/req |");
  console.log("|---|---|---|---|---|");
  for (const variant of variants) {
    const mine = runs.filter((r) => r.variant === variant);
    const all = (pick: (r: Run) => number[]) => median(mine.flatMap(pick));
    console.log(
      `| ${variant} | ${all((r) => r.cpu).toFixed(1)} | ${mine.map((r) => median(r.cpu).toFixed(0)).join(" ")} | ${all((r) => r.rps).toFixed(0)} | ${all((r) => r.faults).toFixed(2)} |`,
    );
  }
} finally {
  await cleanup();
}
