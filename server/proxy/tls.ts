import type { Server } from "bun";
import { parseDuration } from "../shared/config/duration.ts";
import type { RedisClient } from "../shared/state/redis.ts";
import { readCertificates, readChallenge, TLS_KEYS } from "../shared/state/tls.ts";
import {
  type CertificatePair,
  certificateFacts,
  certificateFault,
} from "../shared/tls/certificate.ts";
import { hostName, misdirected, type SiteNames } from "./classify.ts";
import { pathStart } from "./reserved.ts";

const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;
const CHALLENGE_PREFIX = "/.well-known/acme-challenge/";
/** a Host as a redirect may carry it: a name or an address, and an optional port */
const HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253})(:\d{1,5})?$/;

/** The Strict-Transport-Security value for `proxy.tls.hsts`, or undefined when it is off. */
export function hstsValue(setting: string): string | undefined {
  if (setting === "off") return undefined;
  const ms = parseDuration(setting);
  return ms === undefined ? undefined : `max-age=${Math.floor(ms / 1000)}`;
}

/** Where a plain-HTTP request goes on HTTPS: the same host and path, with a 308. */
export function httpsLocation(
  url: string,
  host: string | null,
  httpsPort: number,
): string | undefined {
  if (!host || !HOST.test(host)) return undefined;
  const name = hostName(host);
  const at = pathStart(url);
  const path = at < 0 ? "/" : url.slice(at);
  return `https://${name}${httpsPort === 443 ? "" : `:${httpsPort}`}${path}`;
}

/**
 * The plain-HTTP listener when TLS is on: ACME's HTTP-01 challenges (answered from Redis, so
 * whichever proxy the CA reaches can answer), the proxy's health, and a 308 to https for the
 * rest, path and query kept — for the names served only: a redirect to whatever a stranger
 * put in Host would send visitors to a site of the stranger's choosing.
 */
export function plainHttpAnswer(
  request: Request,
  redis: RedisClient,
  httpsPort: () => number,
  health: (request: Request) => Response | Promise<Response>,
  sites?: SiteNames,
): Response | Promise<Response> {
  const url = request.url;
  const at = pathStart(url);
  const path = at < 0 ? "" : url.slice(at);
  if (path.startsWith(CHALLENGE_PREFIX))
    return challengeAnswer(path.slice(CHALLENGE_PREFIX.length), redis);
  if (path === "/_dropship/healthz") return health(request);
  const host = request.headers.get("host");
  const location = httpsLocation(url, host, httpsPort());
  if (!location)
    return text(400, "The request has no usable Host field; send Host: <the site's name>.");
  if (sites && !sites.serves(host as string)) {
    const refusal = misdirected(sites);
    return text(refusal.status, refusal.reason);
  }
  return new Response(null, { status: 308, headers: { location } });
}

async function challengeAnswer(token: string, redis: RedisClient): Promise<Response> {
  if (!TOKEN.test(token)) return text(404, "No such challenge.");
  try {
    const answer = await readChallenge(redis, token);
    return answer ? text(200, answer, false) : text(404, "No such challenge.");
  } catch {
    return text(503, "The challenge store cannot be reached; the CA will try again.");
  }
}

const text = (status: number, body: string, newline = true) =>
  new Response(newline ? `${body}\n` : body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });

/**
 * The certificates this proxy serves, read from Redis at start and again whenever the issuer
 * announces a change. One that cannot serve its domain (expired, wrong key, not covering it) is
 * refused with a line saying why, and the one in use stays.
 */
export class Certificates {
  private pairs = new Map<string, CertificatePair>();
  /** each served certificate's expiry, read once when it is taken into use */
  private expiry = new Map<string, string>();

  constructor(
    private readonly redis: RedisClient,
    private readonly domains: readonly string[],
    private readonly log: (line: string) => void,
  ) {}

  private readonly listeners: (() => void)[] = [];

  current(): ReadonlyMap<string, CertificatePair> {
    return this.pairs;
  }

  /** Told after each change of what is served. */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  changed(): void {
    for (const listener of this.listeners) listener();
  }

  /** What status and the dashboard show: each domain served and when its certificate ends. */
  views(): { domain: string; notAfter: string }[] {
    return [...this.expiry].map(([domain, notAfter]) => ({ domain, notAfter }));
  }

  /** Reads them again; answers whether anything changed. */
  async reload(): Promise<boolean> {
    const stored = await readCertificates(this.redis);
    const next = new Map(this.pairs);
    let changed = false;
    for (const domain of this.domains) {
      const entry = stored.get(domain);
      if (!entry) continue;
      const serving = this.pairs.get(domain);
      if (serving?.cert === entry.cert && serving.key === entry.key) continue;
      const pair = { cert: entry.cert, key: entry.key };
      const what = { cert: "the certificate", key: "its key" };
      const fault = certificateFault(pair, [domain], new Date(), what);
      if (fault) {
        this.log(`the certificate for ${domain} in Redis is not served: ${fault}`);
        continue;
      }
      next.set(domain, pair);
      this.expiry.set(domain, certificateFacts(pair.cert)?.notAfter.toISOString() ?? "");
      changed = true;
    }
    this.pairs = next;
    return changed;
  }

  /** Calls `changed` after each reload that changed something (issuer's pub/sub message). */
  listen(subscriber: RedisClient, changed: () => void): void {
    subscriber.on("message", (channel: string) => {
      if (channel !== TLS_KEYS.changed) return;
      this.reload().then(
        (yes) => yes && changed(),
        (error: Error) => this.log(`certificates not read again: ${error.message}`),
      );
    });
    // subscribed once connected (ioredis subscribes again after a reconnect by itself), and
    // read again then, as a change may have been missed while Redis was away
    const subscribe = () => {
      subscriber
        .subscribe(TLS_KEYS.changed)
        .catch((error: Error) => this.log(`not hearing of new certificates: ${error.message}`));
    };
    if (subscriber.status === "ready") subscribe();
    else subscriber.once("ready", subscribe);
    subscriber.on("ready", () => {
      this.reload().then(
        (yes) => yes && changed(),
        () => undefined,
      );
    });
  }
}

/** Set on a listener being replaced: its answers say `Connection: close`. */
export interface Retiring {
  now: boolean;
}

/** What HttpsListener swaps: a Bun.serve server, or the proxy's own front (../native/front.ts). */
export interface Listener {
  readonly port: number | undefined;
  stop(): Promise<unknown>;
}

/**
 * The HTTPS listener. Bun keeps serving a listener's first certificate whatever reload() is
 * given, so a new certificate gets a new listener on the same port (SO_REUSEPORT). The old one
 * then answers with `Connection: close` for `graceMs`, so that kept-alive clients leave it
 * between requests rather than have an idle connection closed under a request they are
 * sending, and only then stops accepting and lets what is in flight finish.
 */
export class HttpsListener<L extends Listener = Server<unknown>> {
  private server: L | undefined;
  private retiring: Retiring = { now: false };
  /** the server in use is an adopted plain-HTTP one */
  private plain = false;
  private port: number;
  /** listeners in their grace, each with the timer that stops it */
  private readonly retired = new Map<ReturnType<typeof setTimeout>, L>();

  constructor(
    port: number,
    private readonly make: (port: number, tls: Bun.TLSOptions[], retiring: Retiring) => L,
    private readonly graceMs = 2000,
  ) {
    this.port = port;
  }

  get listeningPort(): number | undefined {
    return this.server?.port;
  }

  /**
   * Serves with this plain-HTTP server until the first certificate replaces it, at once: its
   * clients cannot go on over TLS whatever the grace.
   */
  adopt(server: L): void {
    this.server = server;
    this.plain = true;
    this.port = server.port ?? this.port;
  }

  use(pairs: ReadonlyMap<string, CertificatePair>): void {
    if (pairs.size === 0) return;
    const tls = [...pairs].map(([serverName, pair]) => ({ ...pair, serverName }));
    const retiring = { now: false };
    const next = this.make(this.port, tls, retiring);
    this.port = next.port ?? this.port;
    const [old, oldRetiring] = [this.server, this.retiring];
    [this.server, this.retiring] = [next, retiring];
    if (!old) return;
    if (this.plain) {
      this.plain = false;
      void old.stop();
      return;
    }
    oldRetiring.now = true;
    const timer = setTimeout(() => {
      this.retired.delete(timer);
      void old.stop();
    }, this.graceMs);
    this.retired.set(timer, old);
  }

  async stop(): Promise<void> {
    const graced = [...this.retired].map(([timer, server]) => {
      clearTimeout(timer);
      return server.stop();
    });
    this.retired.clear();
    await Promise.all([...graced, this.server?.stop()]);
  }
}

/** The answer, telling the client to open a new connection for its next request. */
export async function closing(answer: Response | Promise<Response>): Promise<Response> {
  const response = await answer;
  response.headers.set("connection", "close");
  return response;
}
