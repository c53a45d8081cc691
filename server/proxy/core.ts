import { readFileSync } from "node:fs";
import { checkAdmin } from "../shared/auth.ts";
import { rateLimitOf } from "../shared/config/guards.ts";
import type { Config } from "../shared/config/schema.ts";
import { FlagClient } from "../shared/flags/client.ts";
import { BUILT_IN_FLAGS } from "../shared/flags/model.ts";
import { inAnyCidr, parseCidr } from "../shared/net/cidr.ts";
import {
  ConnectionBudget,
  capWarning,
  connectionCap,
  openFileLimit,
} from "../shared/net/connections.ts";
import { RateLimitedLog } from "../shared/rate-limited-log.ts";
import { KEYS } from "../shared/state/keys.ts";
import { StateMirror } from "../shared/state/mirror.ts";
import { connectRedis } from "../shared/state/redis.ts";
import { type UsersSource, usersFile } from "../shared/users-file.ts";
import { VERSION } from "../shared/version.ts";
import { WrongCredentials } from "../shared/wrong-credentials.ts";
import { AccessLog } from "./access-log.ts";
import { createAdmin } from "./admin.ts";
import type { WindowSink } from "./analysis.ts";
import { startHealthChecks } from "./checker.ts";
import { SiteNames } from "./classify.ts";
import { Deadlines } from "./deadlines.ts";
import type { ForwardDeps } from "./forward.ts";
import { visitorAddress } from "./headers.ts";
import type { Metrics } from "./metrics.ts";
import { Pool } from "./pool.ts";
import { RequestRate } from "./request-rate.ts";
import { Routing } from "./routing.ts";
import { Certificates, hstsValue } from "./tls.ts";
import { UpstreamClient } from "./upstream/client.ts";
import { Tunnels } from "./websocket.ts";

export interface ProxyEnv {
  port: number;
  host: string;
  httpsPort: number;
  adminPort: number;
  redisUrl: string;
  adminToken: string;
  usersFile: string;
  /** who reads the public HTTP port: the own front (default) or Bun.serve alone */
  engine?: "own" | "serve";
  /** the access log's file; "" or unset: none (the supervisor writes none: its workers do) */
  accessLog?: string;
}

/** The access log's file when it is on: DROPSHIP_ACCESS_LOG set, proxy.access_log.enabled. */
export function accessLogPath(env: ProxyEnv, config: Config): string | undefined {
  return env.accessLog && config.proxy.access_log.enabled ? env.accessLog : undefined;
}

export type Core = Awaited<ReturnType<typeof startCore>>;

/**
 * What every proxy process holds, worker or not: the state mirror and routing, health checks,
 * the admin handler (also behind the public /disable URLs and healthz), certificates, and the
 * forwarding dependencies for plain and HTTPS listeners.
 */
export async function startCore(
  env: ProxyEnv,
  config: Config,
  window: WindowSink,
  metrics: Metrics,
  say: (line: string) => void,
  /** the request-rate table the host's workers share, when they do */
  rateMemory?: Uint8Array,
) {
  const mirror = new StateMirror({
    redisUrl: env.redisUrl,
    hashes: [KEYS.flags, KEYS.backends, KEYS.canary, KEYS.alerts, KEYS.maintenance],
  });
  const flags = new FlagClient({ redisUrl: env.redisUrl, mirror, defaults: BUILT_IN_FLAGS });
  const log = new RateLimitedLog();
  const pool = new Pool((member, inRotation, cause) =>
    say(
      `${member.backend.track} backend ${member.backend.id} ${inRotation ? "enters" : "leaves"} the rotation: ${cause}`,
    ),
  );
  const checks = startHealthChecks(pool, config.health);
  const routing = new Routing(mirror, pool, flags, config.canary.weight, checks.checkNow);
  const redis = connectRedis(env.redisUrl, { purpose: "dropship-proxy", persistent: true });
  const trusted = config.proxy.trusted_proxies
    .map((text) => parseCidr(text))
    .filter((c) => c !== undefined);
  const isTrusted = (address: string) => inAnyCidr(address, trusted);
  const users: UsersSource = env.usersFile ? usersFile(env.usersFile, say) : () => [];
  // on the request path (an app's own Authorization is checked before it passes): the users
  // as last read, never a look at the file for a token no one holds
  const isAdminCredential = (authorization: string) =>
    env.adminToken !== "" && checkAdmin(authorization, env.adminToken, users()).ok;
  const tlsSettings = config.proxy.tls;
  const certificates = new Certificates(redis, tlsSettings.domains, say);

  const peers = new WeakMap<Request, string>();
  /** the canary analysis's last word, set where it runs (hostDuties) */
  const analysisSaid: { why: string | null } = { why: null };
  const admin = createAdmin({
    token: env.adminToken || undefined,
    users,
    redis,
    routing,
    flags,
    metrics,
    version: VERSION,
    peerOf: (request) => peers.get(request) ?? "unknown",
    visitorOf: (request) =>
      visitorAddress(
        peers.get(request) ?? "unknown",
        request.headers.get("x-forwarded-for"),
        isTrusted,
      ),
    wrongCredentials: new WrongCredentials(),
    certificates: () => certificates.views(),
    analysis: () => analysisSaid.why,
    log: (line) => log.line(line),
  });
  const idleTimeoutS = Math.round(config.proxy.idle_timeout / 1000);
  const client = new UpstreamClient({ connectTimeoutMs: config.proxy.connect_timeout });
  const accessPath = accessLogPath(env, config);
  const access = accessPath ? new AccessLog(accessPath, { say }) : undefined;
  const deps: ForwardDeps = {
    routing,
    metrics,
    window,
    log,
    deadlines: new Deadlines(config.proxy.response_timeout),
    client,
    settings: {
      forwardHost: config.proxy.forward_host,
      responseTimeoutMs: config.proxy.response_timeout,
      isTrusted,
      isAdminCredential,
      https: false,
      sites: tlsSettings.domains.length > 0 ? new SiteNames(tlsSettings.domains) : undefined,
    },
    access,
    rate: requestRate(config, rateMemory),
  };
  const httpsDeps: ForwardDeps = {
    ...deps,
    settings: { ...deps.settings, https: true, hsts: hstsValue(tlsSettings.hsts) },
  };
  const connections = connectionBudget(config, deps.settings.isTrusted, say);
  const tunnels = new Tunnels(config.proxy.drain_grace, log);
  mirror.onChange(() => tunnels.closeDraining(pool));

  await mirror.start();
  await checks.checkNow(pool.all());
  return {
    env,
    config,
    mirror,
    flags,
    log,
    pool,
    checks,
    routing,
    redis,
    metrics,
    admin,
    peers,
    certificates,
    deps,
    httpsDeps,
    tunnels,
    connections,
    idleTimeoutS,
    tlsOn: tlsSettings.domains.length > 0,
    analysisSaid,
    say,
    async stop() {
      checks.stop();
      client.close();
      deps.deadlines.stop();
      access?.close();
      await mirror.stop();
      redis.disconnect();
    },
  };
}

/** Addresses the request-rate table is sized for (16 bytes a slot, two slots each: 4 MiB). */
export const RATE_TRACKED = 100_000;

/**
 * proxy.rate_limit's buckets, or undefined when it is off: in `memory` when the host's workers
 * share them (workers/rate-table.ts), else this process's own.
 */
export function requestRate(config: Config, memory?: Uint8Array): RequestRate | undefined {
  const rate = rateLimitOf(config.proxy);
  return rate && new RequestRate({ ...rate, tracked: RATE_TRACKED }, memory);
}

/**
 * This process's connection budget (proxy.max_connections, .max_connections_per_address), its
 * auto cap read from the open-file limit Bun raised at start; Linux's /proc says what it is,
 * and elsewhere the usual 1024 is assumed.
 */
function connectionBudget(
  config: Config,
  isTrusted: (address: string) => boolean,
  say: (line: string) => void,
): ConnectionBudget {
  let limits = "";
  try {
    limits = readFileSync("/proc/self/limits", "utf8");
  } catch {
    // not Linux: the default below
  }
  const openFiles = openFileLimit(limits) ?? 1024;
  const setting = config.proxy.max_connections;
  const max = connectionCap(setting, openFiles);
  if (setting !== "auto") {
    const warning = capWarning(max, openFiles);
    if (warning) say(warning);
  }
  return new ConnectionBudget(
    { max, perAddress: config.proxy.max_connections_per_address },
    isTrusted,
  );
}
