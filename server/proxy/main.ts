import { availableParallelism, cpus, hostname } from "node:os";
import { rateLimitOf } from "../shared/config/guards.ts";
import { loadLocatedConfig } from "../shared/config/locate.ts";
import type { Config } from "../shared/config/schema.ts";
import { ADMIN_PORT, host, port, readEnv, redisUrl, type Variable } from "../shared/env.ts";
import { ownArgv } from "../shared/proc.ts";
import { onShutdown, serverMain } from "../shared/serve.ts";
import { VERSION } from "../shared/version.ts";
import { startRotation } from "./access-log.ts";
import { ErrorWindow, perVisitorCap, WindowTally } from "./analysis.ts";
import { startCanaryAnalysis } from "./analyst.ts";
import { accessLogPath, type Core, type ProxyEnv, RATE_TRACKED, startCore } from "./core.ts";
import { startAdmin, startPublic, watchCertificates } from "./listeners.ts";
import { Metrics } from "./metrics.ts";
import { startTrafficReports } from "./traffic.ts";
import { Figures, type WorkerMessage, workerCount } from "./workers/figures.ts";
import { createRateTable, openRateTable, RATE_TABLE_VARIABLE } from "./workers/rate-table.ts";
import { superviseWorkers } from "./workers/supervisor.ts";

const SPEC = {
  port: port(80, "public HTTP port"),
  host: host(),
  httpsPort: {
    ...port(443, "HTTPS port, when proxy.tls is on"),
    name: "DROPSHIP_HTTPS_PORT",
  } satisfies Variable<number>,
  adminPort: {
    ...port(ADMIN_PORT, "the admin listener: dashboard, admin API, metrics"),
    name: "DROPSHIP_ADMIN_PORT",
  } satisfies Variable<number>,
  redisUrl: redisUrl(),
  adminToken: {
    name: "DROPSHIP_ADMIN_TOKEN",
    description: "secret for the admin API and /disable/1|0; without it they answer 503",
    fallback: "",
    parse: (text: string) => {
      if (text.length < 16)
        throw new Error(`is ${text.length} characters — use at least 16 (openssl rand -hex 16)`);
      return text;
    },
  } satisfies Variable<string>,
  usersFile: {
    name: "DROPSHIP_USERS_FILE",
    description: "named users' token hashes (bun run users); changes are audited under the owner",
    fallback: "",
    parse: (text: string) => text,
  } satisfies Variable<string>,
  configFile: {
    name: "DROPSHIP_CONFIG",
    description: "deployment config for health checks and canary analysis; defaults when unset",
    fallback: "",
    parse: (text: string) => text,
  } satisfies Variable<string>,
  accessLog: {
    name: "DROPSHIP_ACCESS_LOG",
    description:
      "the access log's file (set on the hosts by the playbook); empty: no access log. proxy.access_log turns it off",
    fallback: "",
    parse: (text: string) => {
      if (text !== "" && !text.startsWith("/"))
        throw new Error(`is ${JSON.stringify(text)} — give an absolute path`);
      return text;
    },
  } satisfies Variable<string>,
  engine: {
    name: "DROPSHIP_PROXY_ENGINE",
    description:
      "own: plain HTTP/1.1 for the app answered on Bun.listen, the rest by Bun.serve; serve: all by Bun.serve",
    fallback: "own",
    parse: (text: string): "own" | "serve" => {
      if (text === "own" || text === "serve") return text;
      throw new Error(`is ${JSON.stringify(text)} — use own or serve`);
    },
  } satisfies Variable<"own" | "serve">,
  workers: {
    name: "DROPSHIP_PROXY_WORKERS",
    description: "proxy processes on the ports (auto or 1–64); overrides proxy.workers",
    fallback: undefined,
    optional: true,
    parse: (text: string): "auto" | number | undefined => {
      if (text === "auto") return "auto";
      const n = Number(text);
      if (Number.isInteger(n) && n >= 1 && n <= 64) return n;
      throw new Error(`is ${JSON.stringify(text)} — use auto or a whole number from 1 to 64`);
    },
  } satisfies Variable<"auto" | number | undefined>,
};

/** Set by the supervisor on each worker it starts (not a setting). */
const WORKER = process.env.DROPSHIP_PROXY_WORKER;

await serverMain(
  "dropship-proxy",
  "the canary-splitting proxy in front of the apps",
  SPEC,
  async () => {
    const env = readEnv(SPEC);
    const { config } = loadLocatedConfig((line) =>
      WORKER === undefined ? console.log(`dropship-proxy: ${line}`) : undefined,
    );
    if (WORKER !== undefined) return runWorker(env, config, Number(WORKER));
    // the CPUs it may run on, and those /proc says it has: a droplet's vCPUs, also where a CPU
    // quota is shown through LXCFS (the emulator's droplets) while every core is allowed
    const count = workerCount(
      env.workers ?? config.proxy.workers,
      Math.min(availableParallelism(), cpus().length || Number.POSITIVE_INFINITY),
    );
    return count > 1 ? runSupervisor(env, config, count) : runSingle(env, config);
  },
);

function say(line: string): void {
  console.error(`dropship-proxy: ${line}`);
}

function canaryWindow(config: Config) {
  const { analysis } = config.canary;
  return new ErrorWindow(
    analysis.window,
    perVisitorCap(analysis.min_requests),
    analysis.slow_after,
  );
}

/** Canary analysis, traffic reports and the access log's rotation: once per proxy host. */
function hostDuties(core: Core, window: ErrorWindow, listeningPort: number, accessLog?: string) {
  const analysis = startCanaryAnalysis(
    core.routing,
    window,
    core.redis,
    core.config.canary.analysis,
    (why) => {
      core.analysisSaid.why = why;
    },
  );
  const traffic = startTrafficReports(
    core.redis,
    `${hostname()}:${listeningPort}`,
    () => {
      const totals = core.metrics.totals();
      return totals.production.requests + totals.staging.requests;
    },
    core.config.monitor.interval,
  );
  const { max_size_mb, keep } = core.config.proxy.access_log;
  const rotation = accessLog
    ? startRotation(accessLog, max_size_mb * 1024 * 1024, keep, core.say)
    : () => {};
  return () => {
    analysis.stop();
    traffic.stop();
    rotation();
  };
}

function listeningLine(
  core: Core,
  port: number,
  httpsPort: number | undefined,
  adminPort: number | undefined,
  extra = "",
) {
  const { pool, certificates, config, env, connections } = core;
  const counts = `${pool.available("production")} production and ${pool.available("staging")} staging backends healthy`;
  const { max, perAddress } = connections.limits;
  const rate = core.deps.rate?.limits;
  const limits =
    `, at most ${max} connections a process${perAddress > 0 ? ` and ${perAddress} an address` : ""}` +
    (rate ? `, ${rate.perSecond} requests a second an address (bursts of ${rate.burst})` : "");
  const domains = config.proxy.tls.domains;
  const httpsNote = !core.tlsOn
    ? ""
    : httpsPort
      ? `, https on :${httpsPort} for ${[...certificates.current().keys()].join(", ")}`
      : `, https once a certificate for ${domains.join(", ")} is issued`;
  console.log(
    `dropship-proxy ${VERSION} listening on http://${env.host}:${port}${httpsNote} (admin on :${adminPort})${extra}${limits} — ${counts}`,
  );
}

/** One process does everything: proxy.workers is 1, or the machine has one CPU. */
async function runSingle(env: ProxyEnv, config: Config) {
  const window = canaryWindow(config);
  const core = await startCore(env, config, window, new Metrics(), say);
  const subscriber = await watchCertificates(core);
  const publicSide = await startPublic(core);
  const admin = startAdmin(core);
  const stopDuties = hostDuties(core, window, publicSide.port, accessLogPath(env, config));
  listeningLine(core, publicSide.port, publicSide.httpsPort(), admin.listeningPort);
  onShutdown(async () => {
    await Promise.all([publicSide.stop(), admin.stop()]);
    subscriber?.disconnect();
    stopDuties();
    await core.stop();
  });
}

/**
 * A worker: the public listeners only. Its counters go to the supervisor five times a second;
 * it exits (draining) when told to or when its supervisor is gone.
 */
async function runWorker(env: ProxyEnv, config: Config, worker: number) {
  const tally = new WindowTally(config.canary.analysis.slow_after);
  const metrics = new Metrics();
  const say = (line: string) => console.error(`dropship-proxy[${worker}]: ${line}`);
  const core = await startCore(env, config, tally, metrics, say, sharedRateTable(say));
  const subscriber = await watchCertificates(core);
  const publicSide = await startPublic(core);
  const send = (message: WorkerMessage) => process.send?.(message);
  let failures: [string, string][] = [];
  core.pool.onConnectionFailure = (id, reason) => {
    if (failures.length < 100) failures.push([id, reason]);
  };
  const report = setInterval(() => {
    send({
      kind: "report",
      metrics: metrics.snapshot(),
      inFlight: core.pool.all().map((m) => [m.backend.id, m.inFlight]),
      tally: tally.drain(),
      failures,
    });
    failures = [];
  }, 200);
  const parent = process.ppid;
  const orphaned = setInterval(() => {
    if (process.ppid !== parent) process.kill(process.pid, "SIGTERM");
  }, 1000);
  send({ kind: "ready", port: publicSide.port });
  onShutdown(async () => {
    clearInterval(orphaned);
    await publicSide.stop();
    clearInterval(report);
    subscriber?.disconnect();
    await core.stop();
  });
}

/**
 * The supervisor: `count` workers on the public ports, and, once for the host, the admin
 * listener, the canary analysis and the traffic reports over the workers' combined figures.
 * It keeps its own routing view and health checks for the status page.
 */
async function runSupervisor(env: ProxyEnv, config: Config, count: number) {
  const window = canaryWindow(config);
  const metrics = new Metrics();
  const figures = new Figures(metrics, window);
  // every worker must bind the same ports: a port left to the system is chosen here
  const ports = {
    port: env.port || freePort(env.host),
    httpsPort: env.httpsPort || freePort(env.host),
  };
  // one request bucket an address for the host, whichever worker its connections land on
  const rateTable = rateLimitOf(config.proxy) ? hostRateTable(count) : undefined;
  // the workers write the access log; this process only rotates it
  const core = await startCore(
    { ...env, ...ports, accessLog: "" },
    config,
    window,
    metrics,
    say,
    rateTable?.memory,
  );
  const subscriber = await watchCertificates(core);
  const admin = startAdmin(core);
  const workers = superviseWorkers({
    count,
    argv: ownArgv(),
    env: {
      ...process.env,
      PORT: String(ports.port),
      DROPSHIP_HTTPS_PORT: String(ports.httpsPort),
      [RATE_TABLE_VARIABLE]: rateTable?.path,
    },
    onMessage: (worker, message) => {
      if (message.kind !== "report") return;
      figures.report(worker, message);
      // the host's view of a backend is out as soon as a worker found it so
      for (const [id, reason] of message.failures) core.pool.recordConnectionFailure(id, reason);
      for (const member of core.pool.all()) member.inFlight = figures.inFlightOf(member.backend.id);
    },
    onExit: (worker) => figures.retire(worker),
    say,
  });
  await workers.ready;
  const stopDuties = hostDuties(core, window, ports.port, accessLogPath(env, config));
  const httpsPort =
    core.tlsOn && core.certificates.current().size > 0 ? ports.httpsPort : undefined;
  listeningLine(core, ports.port, httpsPort, admin.listeningPort, `, ${count} workers`);
  onShutdown(async () => {
    await workers.stop();
    rateTable?.remove();
    await admin.stop();
    subscriber?.disconnect();
    stopDuties();
    await core.stop();
  });
}

/**
 * The request buckets the workers share; where no file can be made for them, none, and each
 * worker counts its own (an address may then send `count` times the rate), said once.
 */
function hostRateTable(count: number): ReturnType<typeof createRateTable> | undefined {
  try {
    return createRateTable(RATE_TRACKED);
  } catch (error) {
    say(
      `proxy.rate_limit: no file could be made for the host's request buckets (${(error as Error).message}); each of the ${count} workers counts its own, so an address may send up to ${count} times the rate — give this user a writable /dev/shm or TMPDIR`,
    );
    return undefined;
  }
}

/**
 * A worker's view of the request buckets its supervisor made for the host; where it cannot be
 * had (a setting changed under a running supervisor), this worker's own, and it says so.
 */
function sharedRateTable(say: (line: string) => void): Uint8Array | undefined {
  const path = process.env[RATE_TABLE_VARIABLE];
  if (!path) return undefined;
  try {
    return openRateTable(path, RATE_TRACKED);
  } catch (error) {
    say(
      `proxy.rate_limit: the host's request buckets could not be opened (${(error as Error).message}); this worker counts its own until the proxy restarts`,
    );
    return undefined;
  }
}

function freePort(hostname: string): number {
  const probe = Bun.listen({ hostname, port: 0, socket: { data() {} } });
  const { port } = probe;
  probe.stop(true);
  return port;
}
