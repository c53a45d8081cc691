import type { Server } from "bun";
import { ProxyProtocolFront } from "../shared/net/proxy-protocol-front.ts";
import { connectRedis } from "../shared/state/redis.ts";
import type { Core } from "./core.ts";
import { type Answering, type ForwardDeps, forward, refuse, serveAnswering } from "./forward.ts";
import { OwnFront, STOP_GRACE_S } from "./native/front.ts";
import { pathStart, publicReserved, reservedPath } from "./reserved.ts";
import { closing, HttpsListener, type Listener, plainHttpAnswer, type Retiring } from "./tls.ts";
import { isWebSocketUpgrade, openTunnel, type Tunnel } from "./websocket.ts";

/**
 * The visitors' side: HTTP on `port`, and with TLS on, HTTPS on `httpsPort` (plain HTTP then
 * answers ACME challenges and redirects). Every listener uses reusePort, so that several
 * workers, or the next release during an upgrade, share the ports. With proxy.proxy_protocol,
 * a PROXY protocol front holds each public port and the listeners sit behind it on the loopback
 * address (the own front, or Bun.serve, cannot read the protocol: TLS cannot start on a server
 * socket after it in Bun 1.4); the visitor's address is then the one the load balancer's header
 * gave.
 */
export async function startPublic(core: Core) {
  const { env, admin, peers, tunnels, certificates, idleTimeoutS } = core;
  const proxied = core.config.proxy.proxy_protocol;
  // the own front holds the public HTTP port when it serves the app in plain HTTP, and the
  // HTTPS port while one certificate is served (behind a PROXY-protocol front, on loopback);
  // for several certificates (SNI, which Bun.listen lacks), Bun.serve answers as before
  const own = env.engine !== "serve" && !core.tlsOn;
  const ownTls = env.engine !== "serve" && core.tlsOn;
  const bindHost = proxied || own ? "127.0.0.1" : env.host;
  const fronts: ProxyProtocolFront[] = [];
  // once stopping, Bun.serve answers with Connection: close (see stop below)
  const draining: Retiring = { now: false };
  /** Every front that passes connections on to a Bun.serve listener, for stop to wait on. */
  const passing = new Set<{ readonly passedOpen: number }>();
  /** A certificate's fronts are retired when the next comes; once done, nothing to wait on. */
  const forgetDone = () => {
    for (const front of passing) if (front instanceof OwnFront && front.done) passing.delete(front);
  };
  /** A front on this public port for the listener `behind` names, when the protocol is on. */
  const frontFor = (port: number, behind: () => number | undefined) => {
    if (!proxied) return undefined;
    const front = new ProxyProtocolFront({
      hostname: env.host,
      port,
      innerPort: behind,
      isTrusted: core.deps.settings.isTrusted,
      log: (line) => core.log.line(line),
      connections: core.connections,
      refused: (status) => core.metrics.refused(status),
    });
    fronts.push(front);
    passing.add(front);
    return front;
  };
  const peerOf = (server: Server<unknown>, request: Request, front?: Front) => {
    const ip = server.requestIP(request);
    if (!ip) return "unknown";
    return front?.sourceOf(ip.port) ?? ip.address;
  };
  /** The app's listener: plain HTTP, or HTTPS with these certificates. */
  const appListener = (
    port: number,
    listenerDeps: ForwardDeps,
    front: () => Front | undefined,
    tls?: Bun.TLSOptions[],
    retiring?: Retiring,
    hostname = bindHost,
  ) => {
    let answering: Answering<Request, Response> | undefined;
    return Bun.serve<Tunnel>({
      port,
      hostname,
      reusePort: true,
      idleTimeout: idleTimeoutS,
      ...(tls ? { tls } : {}),
      websocket: { ...tunnels.handlers, idleTimeout: idleTimeoutS },
      fetch(request, server) {
        const peer = peerOf(server, request, front());
        // Bun builds `url` anew on each read: read it once
        const url = request.url;
        const leaving = draining.now || retiring?.now === true;
        const reserved = reservedPath(url);
        if (reserved !== undefined) {
          peers.set(request, peer);
          const answer = publicReserved(reserved, request, admin);
          return leaving ? closing(answer) : answer;
        }
        const refusal = refuse(request, url, peer, listenerDeps);
        if (refusal) return refusal;
        if (isWebSocketUpgrade(request)) return openTunnel(request, server, peer, listenerDeps);
        answering ??= serveAnswering(server, idleTimeoutS);
        const path = url.slice(pathStart(url));
        if (leaving) return closing(forward(request, path, answering, peer, listenerDeps));
        return forward(request, path, answering, peer, listenerDeps);
      },
    });
  };
  // behind a front, each listener takes a loopback port of its own, and keeps it across new
  // certificates (HttpsListener binds its next listener to the port the first one got)
  let httpsFront: ProxyProtocolFront | undefined;
  // the own fronts on the HTTPS port, the retiring ones too: what they pass on (bodies,
  // upgrades, the proxy's paths) goes to one listener behind them, in plain HTTP on loopback
  const tlsFronts = new Set<OwnFront>();
  const tlsSources: Front = {
    port: 0,
    sourceOf: (innerPort) => {
      for (const front of tlsFronts) {
        const source = front.sourceOf(innerPort);
        if (source !== undefined) return source;
      }
      return undefined;
    },
  };
  const behindTls = ownTls
    ? appListener(0, core.httpsDeps, () => tlsSources, undefined, undefined, "127.0.0.1")
    : undefined;
  const ownTlsFront = (port: number, tls: Bun.TLSOptions, retiring: Retiring) => {
    for (const front of tlsFronts) if (front.done) tlsFronts.delete(front);
    forgetDone();
    const front = new OwnFront({
      hostname: proxied ? "127.0.0.1" : env.host,
      port,
      innerPort: () => behindTls?.port,
      idleTimeoutS,
      deps: core.httpsDeps,
      log: (line) => core.log.line(line),
      tls: { cert: tls.cert as string, key: tls.key as string },
      // behind the PROXY protocol front, it answers with Connection: close from the start of a
      // stop, while it still listens for what that front has just passed on
      retiring: proxied ? either(retiring, draining) : retiring,
      // behind the PROXY protocol front, that front counts the connections and knows the visitor
      ...(proxied
        ? { sourceBefore: (port: number) => httpsFront?.sourceOf(port) }
        : { connections: core.connections }),
    });
    tlsFronts.add(front);
    passing.add(front);
    return front;
  };
  /**
   * Several certificates: Bun.serve chooses one by SNI, on loopback behind a front that passes
   * the TLS bytes untouched and counts the connections, as it cannot.
   */
  const countedTls = (port: number, tls: Bun.TLSOptions[], retiring: Retiring): Listener => {
    let front: OwnFront | undefined;
    const inner = appListener(0, core.httpsDeps, () => front, tls, retiring, "127.0.0.1");
    front = new OwnFront({
      hostname: env.host,
      port,
      innerPort: () => inner.port,
      idleTimeoutS,
      deps: core.httpsDeps,
      log: (line) => core.log.line(line),
      connections: core.connections,
      passing: "tls",
    });
    forgetDone();
    passing.add(front);
    const counting = front;
    return {
      port: counting.port,
      // the front first, then, a moment later, the listener behind (stopped together, a fresh
      // HTTPS request was reset in certificate swaps under load: one test run in two)
      stop: async () => {
        const graceEnds = performance.now() + STOP_GRACE_MS;
        await counting.stop();
        await passedOn([counting]);
        await passedClosed([counting], graceEnds);
        await inner.stop();
      },
    };
  };
  const https = new HttpsListener<Listener>(proxied ? 0 : env.httpsPort, (port, tls, retiring) => {
    const names = tls.map((pair) => pair.serverName).join(", ");
    if (ownTls && oneCertificate(tls)) {
      core.say(`HTTPS for ${names} is answered by the proxy's own front`);
      return ownTlsFront(port, tls[0] as Bun.TLSOptions, retiring);
    }
    if (ownTls && !proxied) {
      core.say(`HTTPS for ${names} is answered by Bun.serve (certificates chosen by SNI)`);
      return countedTls(port, tls, retiring);
    }
    return appListener(port, core.httpsDeps, () => httpsFront, tls, retiring);
  });
  if (core.tlsOn) {
    https.use(certificates.current());
    certificates.onChange(() => https.use(certificates.current()));
    httpsFront = frontFor(env.httpsPort, () => https.listeningPort);
  }
  /** the own front on plain HTTP: on the public port, or on loopback behind the PROXY front */
  let plainOwn: OwnFront | undefined;
  let plainProxied: ProxyProtocolFront | undefined;
  /** whichever front passes connections to the plain Bun.serve listener: it knows the visitors */
  const beforeServer = () => plainOwn ?? plainProxied;
  // beside the own HTTPS front, plain HTTP (redirects, ACME) is Bun.serve's behind a front
  // that only counts connections: a flood there would otherwise take the process's files
  const plainBehind = proxied || own || ownTls;
  const plainPort = plainBehind ? 0 : env.port;
  const server = core.tlsOn
    ? Bun.serve({
        port: plainPort,
        hostname: plainBehind ? "127.0.0.1" : env.host,
        reusePort: true,
        idleTimeout: idleTimeoutS,
        fetch: (request, plain) => {
          peers.set(request, peerOf(plain, request, beforeServer()));
          const answer = plainHttpAnswer(
            request,
            core.redis,
            () => httpsFront?.port ?? https.listeningPort ?? env.httpsPort,
            (health) => publicReserved("/_dropship/healthz", health, admin),
            core.deps.settings.sites,
          );
          return draining.now ? closing(answer) : answer;
        },
      })
    : appListener(plainPort, core.deps, beforeServer);
  // behind the PROXY protocol front, the front that only counts would count again: none then
  if (own || (ownTls && !proxied)) {
    plainOwn = new OwnFront({
      hostname: proxied ? "127.0.0.1" : env.host,
      port: proxied ? 0 : env.port,
      innerPort: () => server.port,
      idleTimeoutS,
      deps: core.deps,
      log: (line) => core.log.line(line),
      ...(proxied
        ? { sourceBefore: (port: number) => plainProxied?.sourceOf(port), retiring: draining }
        : { connections: core.connections }),
      ...(ownTls ? { passing: "http" as const } : {}),
    });
    passing.add(plainOwn);
  }
  plainProxied = frontFor(env.port, () => plainOwn?.port ?? server.port);
  const plainFront = plainProxied ?? plainOwn;
  // Bun.serve holds the public ports itself: nothing counts its connections
  const bare = !proxied && !own && !ownTls;
  return {
    port: plainFront?.port ?? (server.port as number),
    /** the public HTTPS port, once there is a certificate to serve */
    httpsPort: () =>
      https.listeningPort === undefined ? undefined : (httpsFront?.port ?? https.listeningPort),
    stop: async () => {
      const graceEnds = performance.now() + STOP_GRACE_MS;
      draining.now = true;
      // the fronts, then the listeners behind them (see INNER_GRACE_MS); HTTPS is a front of
      // its own beside the own front, and a listener behind one behind the PROXY protocol
      for (const front of fronts) front.stop();
      // behind the PROXY protocol fronts, the own fronts are listeners behind a front too
      if (proxied) await passedOn(fronts);
      const ownFronts = [plainOwn?.stop()];
      if (ownTls && !proxied) ownFronts.push(https.stop());
      if (proxied) for (const front of tlsFronts) ownFronts.push(front.stop());
      await Promise.all(ownFronts);
      await passedOn([...fronts, ...(plainOwn ? [plainOwn] : []), ...tlsFronts]);
      if (bare) await Bun.sleep(Math.max(0, graceEnds - performance.now()));
      else await passedClosed(passing, graceEnds);
      await Promise.all([
        server.stop(),
        behindTls?.stop(),
        ownTls && !proxied ? undefined : https.stop(),
      ]);
    },
  };
}

/** Retiring while either is. */
function either(a: Retiring, b: Retiring): Retiring {
  return {
    get now() {
      return a.now || b.now;
    },
  };
}

/**
 * How long a listener behind a front outlives it when both stop: a connection the front has
 * just passed waits in that listener's own accept queue, which nothing migrates (no other
 * listener shares its loopback port), so stopping it at once resets such connections.
 */
const INNER_GRACE_MS = 1000;

/**
 * How long a stopping proxy's Bun.serve listeners keep the kept-alive connections they hold
 * (those a front passed on for a body or an upgrade, or all of them without a front): each
 * next answer carries Connection: close, so its client leaves between requests rather than
 * have an idle connection closed under the request it is sending (a lost POST, in an upgrade's
 * handover). The own front gives its own idle connections the same time.
 */
const STOP_GRACE_MS = STOP_GRACE_S * 1000;

/** Waits until no connection these fronts passed on is open, or until `until` has come. */
async function passedClosed(
  fronts: Iterable<{ readonly passedOpen: number }>,
  until: number,
): Promise<void> {
  while (performance.now() < until) {
    let open = 0;
    for (const front of fronts) open += front.passedOpen;
    if (open === 0) return;
    await Bun.sleep(20);
  }
}

/** Waits until INNER_GRACE_MS has passed since any of these fronts last passed a connection. */
async function passedOn(fronts: readonly { lastPassAt: number }[]): Promise<void> {
  const last = Math.max(...fronts.map((front) => front.lastPassAt));
  const left = last + INNER_GRACE_MS - performance.now();
  if (left > 0) await Bun.sleep(left);
}

/** Every name is served the same certificate: the own front can hold it, needing no SNI. */
const oneCertificate = (tls: Bun.TLSOptions[]) =>
  tls.every((pair) => pair.cert === tls[0]?.cert && pair.key === tls[0]?.key);

/** A listener in front of Bun.serve, which tells it the visitor's address. */
interface Front {
  readonly port: number;
  sourceOf(innerPeerPort: number): string | undefined;
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
