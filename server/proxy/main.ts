import { hostname } from "node:os";
import { checkAdmin } from "../shared/auth.ts";
import { loadLocatedConfig } from "../shared/config/locate.ts";
import { ADMIN_PORT, host, port, readEnv, redisUrl, type Variable } from "../shared/env.ts";
import { FlagClient } from "../shared/flags/client.ts";
import { BUILT_IN_FLAGS } from "../shared/flags/model.ts";
import { inAnyCidr, parseCidr } from "../shared/net/cidr.ts";
import { onShutdown, serverMain } from "../shared/serve.ts";
import { KEYS } from "../shared/state/keys.ts";
import { StateMirror } from "../shared/state/mirror.ts";
import { connectRedis } from "../shared/state/redis.ts";
import { usersFile } from "../shared/users-file.ts";
import { VERSION } from "../shared/version.ts";
import { createAdmin } from "./admin.ts";
import { ErrorWindow, perVisitorCap } from "./analysis.ts";
import { startCanaryAnalysis } from "./analyst.ts";
import { startHealthChecks } from "./checker.ts";
import { Deadlines } from "./deadlines.ts";
import { type ForwardDeps, forward, refuse } from "./forward.ts";
import { RateLimitedLog } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { Pool } from "./pool.ts";
import { publicReserved, reservedPath } from "./reserved.ts";
import { Routing } from "./routing.ts";
import { startTrafficReports } from "./traffic.ts";
import { isWebSocketUpgrade, openTunnel, type Tunnel, Tunnels } from "./websocket.ts";

const SPEC = {
  port: port(80, "public HTTP port"),
  host: host(),
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
};

await serverMain(
  "dropship-proxy",
  "the canary-splitting proxy in front of the apps",
  SPEC,
  async () => {
    const env = readEnv(SPEC);
    const { config } = loadLocatedConfig((line) => console.log(`dropship-proxy: ${line}`));
    const mirror = new StateMirror({
      redisUrl: env.redisUrl,
      hashes: [KEYS.flags, KEYS.backends, KEYS.canary, KEYS.alerts],
    });
    const flags = new FlagClient({ redisUrl: env.redisUrl, mirror, defaults: BUILT_IN_FLAGS });
    const log = new RateLimitedLog();
    const pool = new Pool((member, inRotation, cause) =>
      console.error(
        `dropship-proxy: ${member.backend.track} backend ${member.backend.id} ${inRotation ? "enters" : "leaves"} the rotation: ${cause}`,
      ),
    );
    const checks = startHealthChecks(pool, config.health);
    const routing = new Routing(mirror, pool, flags, config.canary.weight, checks.checkNow);
    const redis = connectRedis(env.redisUrl, { purpose: "dropship-proxy", persistent: true });
    const metrics = new Metrics();
    const { analysis: analysisSettings } = config.canary;
    const window = new ErrorWindow(
      analysisSettings.window,
      perVisitorCap(analysisSettings.min_requests),
    );
    const analysis = startCanaryAnalysis(routing, window, redis, analysisSettings);
    if (!env.adminToken)
      console.error("dropship-proxy: DROPSHIP_ADMIN_TOKEN is not set; the admin API answers 503");
    const trusted = config.proxy.trusted_proxies
      .map((text) => parseCidr(text))
      .filter((c) => c !== undefined);
    const users = env.usersFile
      ? usersFile(env.usersFile, (line) => console.error(`dropship-proxy: ${line}`))
      : () => [];
    const isAdminCredential = (authorization: string) =>
      env.adminToken !== "" && checkAdmin(authorization, env.adminToken, users()).ok;

    const peers = new WeakMap<Request, string>();
    const admin = createAdmin({
      token: env.adminToken || undefined,
      users,
      redis,
      routing,
      flags,
      metrics,
      version: VERSION,
      peerOf: (request) => peers.get(request) ?? "unknown",
      log: (line) => log.line(line),
    });
    const idleTimeoutS = Math.round(config.proxy.idle_timeout / 1000);
    const deps: ForwardDeps = {
      routing,
      metrics,
      window,
      log,
      deadlines: new Deadlines(config.proxy.response_timeout),
      settings: {
        forwardHost: config.proxy.forward_host,
        responseTimeoutMs: config.proxy.response_timeout,
        idleTimeoutS,
        isTrusted: (address) => inAnyCidr(address, trusted),
        isAdminCredential,
      },
    };
    const tunnels = new Tunnels(config.proxy.drain_grace);
    mirror.onChange(() => tunnels.closeDraining(pool));

    await mirror.start();
    await checks.checkNow(pool.all());
    // reusePort: an upgrade starts the next proxy on the same ports before this one stops
    const server = Bun.serve<Tunnel>({
      port: env.port,
      hostname: env.host,
      reusePort: true,
      idleTimeout: idleTimeoutS,
      websocket: { ...tunnels.handlers, idleTimeout: idleTimeoutS },
      fetch(request, server) {
        const peer = server.requestIP(request)?.address ?? "unknown";
        // Bun builds `url` anew on each read: read it once
        const url = request.url;
        const reserved = reservedPath(url);
        if (reserved !== undefined) {
          peers.set(request, peer);
          return publicReserved(reserved, request, admin);
        }
        const refusal = refuse(request, url, peer, deps);
        if (refusal) return refusal;
        if (isWebSocketUpgrade(request)) return openTunnel(request, server, peer, deps);
        return forward(request, url, server, peer, deps);
      },
    });
    const adminServer = Bun.serve({
      port: env.adminPort,
      hostname: env.host,
      reusePort: true,
      idleTimeout: idleTimeoutS,
      fetch(request, adminServer) {
        peers.set(request, adminServer.requestIP(request)?.address ?? "unknown");
        return admin.handle(request);
      },
    });
    const traffic = startTrafficReports(
      redis,
      `${hostname()}:${server.port}`,
      () => {
        const totals = metrics.totals();
        return totals.production.requests + totals.staging.requests;
      },
      config.monitor.interval,
    );
    const counts = `${pool.available("production")} production and ${pool.available("staging")} staging backends healthy`;
    console.log(
      `dropship-proxy ${VERSION} listening on http://${env.host}:${server.port} (admin on :${adminServer.port}) — ${counts}`,
    );

    onShutdown(async () => {
      await Promise.all([server.stop(), adminServer.stop()]);
      checks.stop();
      traffic.stop();
      analysis.stop();
      await mirror.stop();
      redis.disconnect();
    });
  },
);
