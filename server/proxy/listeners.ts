import { connectRedis } from "../shared/state/redis.ts";
import type { Core } from "./core.ts";
import { type ForwardDeps, forward, refuse } from "./forward.ts";
import { publicReserved, reservedPath } from "./reserved.ts";
import { closing, HttpsListener, plainHttpAnswer, type Retiring } from "./tls.ts";
import { isWebSocketUpgrade, openTunnel, type Tunnel } from "./websocket.ts";

/**
 * The visitors' side: HTTP on `port`, and with TLS on, HTTPS on `httpsPort` (plain HTTP then
 * answers ACME challenges and redirects). Every listener uses reusePort, so that several
 * workers, or the next release during an upgrade, share the ports.
 */
export async function startPublic(core: Core) {
  const { env, admin, peers, tunnels, certificates, idleTimeoutS } = core;
  /** The app's listener: plain HTTP, or HTTPS with these certificates. */
  const appListener = (
    port: number,
    listenerDeps: ForwardDeps,
    tls?: Bun.TLSOptions[],
    retiring?: Retiring,
  ) =>
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
  const https = new HttpsListener(env.httpsPort, (port, tls, retiring) =>
    appListener(port, core.httpsDeps, tls, retiring),
  );
  if (core.tlsOn) {
    https.use(certificates.current());
    certificates.onChange(() => https.use(certificates.current()));
  }
  const server = core.tlsOn
    ? Bun.serve({
        port: env.port,
        hostname: env.host,
        reusePort: true,
        idleTimeout: idleTimeoutS,
        fetch: (request, plain) => {
          peers.set(request, plain.requestIP(request)?.address ?? "unknown");
          return plainHttpAnswer(
            request,
            core.redis,
            () => https.listeningPort ?? env.httpsPort,
            (health) => publicReserved("/_dropship/healthz", health, admin),
          );
        },
      })
    : appListener(env.port, core.deps);
  return {
    port: server.port as number,
    https,
    stop: () => Promise.all([server.stop(), https.stop()]),
  };
}

/** The admin listener: plain HTTP, or HTTPS with the site's certificates once there are some. */
export function startAdmin(core: Core) {
  const { env, admin, peers, certificates, idleTimeoutS } = core;
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
  if (core.tlsOn) {
    adminHttps.use(certificates.current());
    certificates.onChange(() => adminHttps.use(certificates.current()));
  }
  // until there is a certificate (or without TLS), it speaks plain HTTP
  if (adminHttps.listeningPort === undefined) adminHttps.adopt(adminListener(env.adminPort));
  return adminHttps;
}

/**
 * Certificates from Redis, kept current through a subscription of their own; `onChange`
 * listeners (the HTTPS listeners) are told of every change.
 */
export async function watchCertificates(core: Core) {
  const { certificates, env } = core;
  if (!core.tlsOn) return undefined;
  const subscriber = connectRedis(env.redisUrl, {
    purpose: "dropship-proxy certificates",
    persistent: true,
  });
  await certificates
    .reload()
    .catch((error: Error) => core.say(`certificates not read yet: ${error.message}`));
  certificates.listen(subscriber, () => {
    certificates.changed();
    core.say(`serving certificates for ${[...certificates.current().keys()].join(", ")}`);
  });
  return subscriber;
}
