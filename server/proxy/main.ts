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
import {
  Certificates,
  closing,
  HttpsListener,
  hstsValue,
  plainHttpAnswer,
  type Retiring,
} from "./tls.ts";
import { startTrafficReports } from "./traffic.ts";
import { UpstreamClient } from "./upstream/client.ts";
import { isWebSocketUpgrade, openTunnel, type Tunnel, Tunnels } from "./websocket.ts";

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
      certificates: () => certificates.views(),
      log: (line) => log.line(line),
    });
    const idleTimeoutS = Math.round(config.proxy.idle_timeout / 1000);
    const deps: ForwardDeps = {
      routing,
      metrics,
      window,
      log,
      deadlines: new Deadlines(config.proxy.response_timeout),
      client: new UpstreamClient({ connectTimeoutMs: config.proxy.connect_timeout }),
      settings: {
        forwardHost: config.proxy.forward_host,
        responseTimeoutMs: config.proxy.response_timeout,
        idleTimeoutS,
        isTrusted: (address) => inAnyCidr(address, trusted),
        isAdminCredential,
        https: false,
      },
    };
    const tlsSettings = config.proxy.tls;
    const tlsOn = tlsSettings.domains.length > 0;
    const httpsDeps: ForwardDeps = {
      ...deps,
      settings: { ...deps.settings, https: true, hsts: hstsValue(tlsSettings.hsts) },
    };
    const tunnels = new Tunnels(config.proxy.drain_grace);
    mirror.onChange(() => tunnels.closeDraining(pool));

    await mirror.start();
    await checks.checkNow(pool.all());
    /** The app's listener: plain HTTP, or HTTPS with these certificates. */
    const appListener = (
      port: number,
      listenerDeps: ForwardDeps,
      tls?: Bun.TLSOptions[],
      retiring?: Retiring,
    ) =>
      // reusePort: an upgrade starts the next proxy on the same ports before this one stops
      Bun.serve<Tunnel>({
        port,
        hostname: env.host,
        reusePort: true,
        idleTimeout: idleTimeoutS,
        ...(tls ? { tls } : {}),
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
          const refusal = refuse(request, url, peer, listenerDeps);
          if (refusal) return refusal;
          if (isWebSocketUpgrade(request)) return openTunnel(request, server, peer, listenerDeps);
          if (retiring?.now) return closing(forward(request, url, server, peer, listenerDeps));
          return forward(request, url, server, peer, listenerDeps);
        },
      });
    const certificates = new Certificates(redis, tlsSettings.domains, (line) =>
      console.error(`dropship-proxy: ${line}`),
    );
    const https = new HttpsListener(env.httpsPort, (port, tls, retiring) =>
      appListener(port, httpsDeps, tls, retiring),
    );
    /** The admin listener: plain HTTP, or HTTPS with the site's certificates once there are some. */
    const adminListener = (port: number, tls?: Bun.TLSOptions[], retiring?: Retiring) =>
      Bun.serve({
        port,
        hostname: env.host,
        reusePort: true,
        idleTimeout: idleTimeoutS,
        ...(tls ? { tls } : {}),
        fetch(request, adminServer) {
          peers.set(request, adminServer.requestIP(request)?.address ?? "unknown");
          const answer = admin.handle(request);
          return retiring?.now ? closing(Promise.resolve(answer)) : answer;
        },
      });
    const adminHttps = new HttpsListener(env.adminPort, adminListener);
    const tlsSubscriber = tlsOn
      ? connectRedis(env.redisUrl, { purpose: "dropship-proxy certificates", persistent: true })
      : undefined;
    if (tlsSubscriber) {
      await certificates
        .reload()
        .catch((error: Error) =>
          console.error(`dropship-proxy: certificates not read yet: ${error.message}`),
        );
      https.use(certificates.current());
      adminHttps.use(certificates.current());
      certificates.listen(tlsSubscriber, () => {
        https.use(certificates.current());
        adminHttps.use(certificates.current());
        console.log(
          `dropship-proxy: HTTPS on :${https.listeningPort} (admin on :${adminHttps.listeningPort}) with certificates for ${[...certificates.current().keys()].join(", ")}`,
        );
      });
    }
    // until there is a certificate (or without TLS), the admin listener speaks plain HTTP
    if (adminHttps.listeningPort === undefined) adminHttps.adopt(adminListener(env.adminPort));
    const server = tlsOn
      ? Bun.serve({
          port: env.port,
          hostname: env.host,
          reusePort: true,
          idleTimeout: idleTimeoutS,
          fetch: (request, plain) => {
            peers.set(request, plain.requestIP(request)?.address ?? "unknown");
            return plainHttpAnswer(
              request,
              redis,
              () => https.listeningPort ?? env.httpsPort,
              (health) => publicReserved("/_dropship/healthz", health, admin),
            );
          },
        })
      : appListener(env.port, deps);
    const adminServer = {
      get port() {
        return adminHttps.listeningPort;
      },
    };
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
    const httpsNote = !tlsOn
      ? ""
      : https.listeningPort
        ? `, https on :${https.listeningPort} for ${[...certificates.current().keys()].join(", ")}`
        : `, https once a certificate for ${tlsSettings.domains.join(", ")} is issued`;
    console.log(
      `dropship-proxy ${VERSION} listening on http://${env.host}:${server.port}${httpsNote} (admin on :${adminServer.port}) — ${counts}`,
    );

    onShutdown(async () => {
      await Promise.all([server.stop(), adminHttps.stop(), https.stop()]);
      tlsSubscriber?.disconnect();
      checks.stop();
      traffic.stop();
      analysis.stop();
      await mirror.stop();
      redis.disconnect();
    });
  },
);
