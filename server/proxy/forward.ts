import type { Server } from "bun";
import type { RateLimitedLog } from "../shared/rate-limited-log.ts";
import { MAINTENANCE_FIELDS } from "../shared/routing/maintenance.ts";
import type { Track } from "../shared/routing/model.ts";
import type { AccessEntry } from "./access-line.ts";
import type { WindowSink } from "./analysis.ts";
import { announcesBody, refusalOf, type SiteNames } from "./classify.ts";
import { type AbortLike, AnswerWait, type Deadlines } from "./deadlines.ts";
import {
  cookieValue,
  type FieldSource,
  isIdempotent,
  ourFields,
  requestIdOf,
  upstreamHead,
  visitorAddress,
} from "./headers.ts";
import type { Metrics } from "./metrics.ts";
import { LEFT_ROTATION } from "./pool.ts";
import { type RequestRate, type RequestRateLimits, rateRefusal } from "./request-rate.ts";
import { pathStart } from "./reserved.ts";
import type { Routing } from "./routing.ts";
import type { UpstreamAnswer, UpstreamClient, UpstreamFault } from "./upstream/client.ts";
import type { ResponseHead } from "./upstream/head.ts";

const COOKIE_AGE = 60 * 60 * 24 * 365;
const MAX_TRIES = 3;
export interface ForwardSettings {
  forwardHost: boolean;
  responseTimeoutMs: number;
  isTrusted: (address: string) => boolean;
  isAdminCredential: (authorization: string) => boolean;
  /** the listener speaks TLS: X-Forwarded-Proto https, cookies Secure */
  https: boolean;
  /** the Strict-Transport-Security value to send, when HSTS is on (HTTPS only) */
  hsts?: string;
  /** the names served (proxy.tls.domains), when there are any: other Hosts are refused */
  sites?: SiteNames;
}

export interface ForwardDeps {
  routing: Routing;
  metrics: Metrics;
  window: WindowSink;
  log: RateLimitedLog;
  deadlines: Deadlines;
  client: UpstreamClient;
  settings: ForwardSettings;
  /** the access log, when it is on: a line an answer */
  access?: { add(entry: AccessEntry): void };
  /** requests per visitor's address (proxy.rate_limit), when it is on */
  rate?: RequestRate;
}

/** The visitor's request as forward() reads it: a Request, or one the own front parsed. */
export interface Visit {
  readonly method: string;
  readonly headers: FieldSource;
  /** streamed (Bun.serve's), or whole (a small one the own front read with the head) */
  readonly body: ReadableStream<Uint8Array> | Uint8Array | null;
  readonly signal: AbortLike;
}

export type AnswerBody = Uint8Array | ReadableStream<Uint8Array> | null;

/** How a listener answers: a Response for Bun.serve, bytes on the socket for the own front. */
export interface Answering<V extends Visit, R> {
  /** the listener's idle timer off (while the backend is awaited) or on again */
  idle(visit: V, on: boolean): void;
  /**
   * `fields` are the proxy's; `passed`, when the answer is a backend's, its head: its reason
   * and its fields, which go first.
   */
  answer(
    visit: V,
    status: number,
    fields: [string, string][],
    body: AnswerBody,
    passed?: ResponseHead,
  ): R;
}

const encoder = new TextEncoder();

/** The body of an answer the proxy writes itself: a sentence, as plain text. */
const sentence = (text: string): Uint8Array => encoder.encode(`${text}\n`);

/** An answer the proxy writes itself, its body a sentence(). */
function plain<V extends Visit, R>(
  answering: Answering<V, R>,
  visit: V,
  status: number,
  body: Uint8Array,
  requestId: string,
  extra: [string, string][] = [],
): R {
  const fields: [string, string][] = [
    ["content-type", "text/plain; charset=utf-8"],
    ["x-request-id", requestId],
    ...extra,
  ];
  return answering.answer(visit, status, fields, body);
}

/** Bun.serve's way to answer: a Response, its idle timer through `server.timeout`. */
export function serveAnswering(
  server: Server<unknown>,
  idleTimeoutS: number,
): Answering<Request, Response> {
  return {
    idle: (request, on) => server.timeout(request, on ? idleTimeoutS : 0),
    answer: (request, status, fields, body, passed) =>
      new Response(answerBody(body, request, server, idleTimeoutS), {
        status,
        statusText: passed?.reason ?? "",
        headers: passed ? passed.fields.concat(fields) : fields,
      }),
  };
}

/** The bytes of plainAnswer()'s body, for the access log. */
export const sentenceBytes = (text: string): number => Buffer.byteLength(text) + 1;

export const plainAnswer = (
  status: number,
  text: string,
  requestId: string,
  extra: Record<string, string> = {},
) =>
  new Response(`${text}\n`, {
    status,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "x-request-id": requestId,
      ...extra,
    },
  });

/** Answers a request the proxy will not route, or undefined when it may go on. */
export function refuse(
  request: Request,
  url: string,
  peer: string,
  deps: ForwardDeps,
): Response | undefined {
  const { method, headers } = request;
  const refusal = refusalOf(
    method,
    url,
    headers.get("host"),
    announcesBody(method, headers),
    deps.settings.sites,
  );
  if (!refusal) return undefined;
  deps.log.line(`${refusal.status} to ${peer}: ${refusal.reason}`);
  deps.metrics.refused(refusal.status);
  const requestId = requestIdOf(headers);
  deps.access?.add({
    at: Date.now(),
    status: refusal.status,
    method,
    target: url.slice(pathStart(url)),
    host: headers.get("host"),
    ms: 0,
    bytes: method === "HEAD" ? 0 : sentenceBytes(refusal.reason),
    track: "-",
    backend: "-",
    visitor: deps.settings.isTrusted(peer)
      ? visitorAddress(peer, headers.get("x-forwarded-for"), deps.settings.isTrusted)
      : peer,
    requestId,
    userAgent: headers.get("user-agent"),
  });
  return plainAnswer(refusal.status, refusal.reason, requestId, {
    connection: "close",
    ...refusal.headers,
  });
}

/** The visitor's track (from its cookie, or drawn) and a backend of it, falling back to production. */
export function chooseBackend(routing: Routing, clientId: string) {
  let track: Track = routing.trackFor(clientId);
  let member = routing.pool.pick(track);
  if (!member && track === "staging") {
    track = "production";
    member = routing.pool.pick(track);
  }
  return { track, member };
}

/**
 * Sends one client request to a backend of its track and streams the answer back. Only the
 * upstream's faults count against a backend: a refused or reset connection before the answer's
 * headers. A request that may be repeated and has no body is then tried on another backend.
 * The client's disconnect cancels the upstream request; a slow upstream gets a 504.
 */
export async function forward<V extends Visit, R>(
  request: V,
  path: string,
  answering: Answering<V, R>,
  peer: string,
  deps: ForwardDeps,
): Promise<R> {
  const { routing, settings } = deps;
  const started = performance.now();
  const requestId = requestIdOf(request.headers);
  const peerTrusted = settings.isTrusted(peer);
  const visitor = peerTrusted
    ? visitorAddress(peer, request.headers.get("x-forwarded-for"), settings.isTrusted)
    : peer;
  const told: Told = { request, path, requestId, visitor, started };
  const waitS = rateWait(deps, peer, peerTrusted, visitor, started);
  if (waitS > 0) return overRate(answering, told, deps, waitS);
  const maintenance = routing.maintenance;
  if (maintenance) {
    // not the canary's window: a 503 here is no backend's fault
    record(deps, told, "production", "maintenance", 503, false, maintenance.page.length);
    return answering.answer(
      request,
      503,
      [...MAINTENANCE_FIELDS, ["x-request-id", requestId]],
      maintenance.page,
    );
  }
  const cookie = request.headers.get("cookie");
  const knownClient = cookieValue(cookie, "dropship_client");
  const clientId = knownClient ?? crypto.randomUUID();
  let { track, member } = chooseBackend(routing, clientId);
  if (!member) {
    const words = sentence(
      `No healthy ${track} backend is available right now; try again in a moment.`,
    );
    record(deps, told, track, "none", 503, true, words.length);
    deps.log.line(`503 to ${visitor}: no healthy ${track} backend`);
    return plain(answering, request, 503, words, requestId, [
      ["x-dropship-track", track],
      ["retry-after", "1"],
    ]);
  }

  const method = request.method;
  // Bun hands over no body for GET and HEAD (refuse() turned away those that announced one)
  const body = method === "GET" || method === "HEAD" ? null : request.body;
  const retryable = body === null && isIdempotent(method);
  const head = upstreamHead(request.headers, {
    peer,
    peerTrusted,
    forwardHost: settings.forwardHost,
    requestId,
    clientId,
    track,
    isAdminCredential: settings.isAdminCredential,
    https: settings.https,
  });
  const tried = new Set<string>();
  let lastError = "";
  let freshAgain = false;

  while (member) {
    tried.add(member.backend.id);
    member.inFlight++;
    // Bun's idle timer keeps running while the visitor waits for the backend, and fires on
    // ticks of seconds: a short idle_timeout could cut a visitor off mid-request. Off until the
    // answer starts (response_timeout bounds the wait), then on again, whatever the outcome.
    answering.idle(request, false);
    const exchange = deps.client.send(member.origin, { method, target: path, head, body });
    const wait = new AnswerWait(deps.deadlines, exchange, request);
    // a backend that goes silent is only found out by its checks: what may be repeated and
    // waits on it then goes elsewhere (Member.waiting; the pool cancels it as LEFT_ROTATION)
    const waiting = retryable ? member.waiting.add(exchange) : undefined;
    let upstream: UpstreamAnswer;
    try {
      upstream = await exchange.answer;
    } catch (error) {
      member.inFlight--;
      const fault = error as UpstreamFault;
      if (exchange.cancelledBecause === LEFT_ROTATION && !request.signal.aborted) {
        lastError = `${member.backend.id} stopped answering and left the rotation`;
        member = tried.size < MAX_TRIES ? routing.pool.pick(track, tried) : undefined;
        continue;
      }
      // a timeout cancels the exchange too: only a cancel that was not ours is the visitor's
      if (!wait.timedOut && (request.signal.aborted || fault.kind === "cancelled")) {
        const words = sentence("The client closed the request.");
        record(deps, told, track, member.backend.id, 499, false, words.length);
        deps.log.line(`499 ${method} ${path.slice(0, 80)}: ${visitor} went away before the answer`);
        return plain(answering, request, 499, words, requestId);
      }
      if (wait.visitorStalled) {
        const seconds = settings.responseTimeoutMs / 1000;
        const words = sentence(
          `The request's body stopped coming: nothing of it arrived for ${seconds} s (proxy.response_timeout). Send it again, without pauses.`,
        );
        // the visitor's doing: neither the backend's health nor the canary's verdict hears of it
        record(deps, told, track, member.backend.id, 408, false, words.length);
        deps.log.line(
          `408 ${method} ${path.slice(0, 80)}: ${visitor} sent nothing of its body for ${seconds} s`,
        );
        return plain(answering, request, 408, words, requestId, [["connection", "close"]]);
      }
      lastError = fault.message;
      const wrong = wait.timedOut
        ? noAnswer(settings.responseTimeoutMs)
        : fault.kind === "malformed"
          ? malformedAnswer(lastError)
          : undefined;
      if (wrong) {
        const words = sentence(`The ${track} backend ${member.backend.id} ${wrong.said}`);
        record(deps, told, track, member.backend.id, wrong.status, true, words.length);
        deps.log.line(
          `${wrong.status} ${method} ${path.slice(0, 80)}: ${member.backend.id} ${wrong.logged}`,
        );
        return plain(answering, request, wrong.status, words, requestId, [
          ["x-dropship-track", track],
        ]);
      }
      // a kept-alive connection the backend had just closed: once more, on a new one
      if (fault.kind === "reset" && fault.reused && retryable && !freshAgain) {
        freshAgain = true;
        tried.delete(member.backend.id);
        continue;
      }
      routing.pool.recordConnectionFailure(member.backend.id, `connection failed: ${lastError}`);
      // nothing reached a backend that refused the connection: any request may go elsewhere
      const again = fault.kind === "connect" || retryable;
      member = again && tried.size < MAX_TRIES ? routing.pool.pick(track, tried) : undefined;
      continue;
    } finally {
      if (waiting) waiting.owner?.remove(waiting);
      wait.done();
      answering.idle(request, true);
    }
    member.inFlight--;
    record(deps, told, track, member.backend.id, upstream.status, true, bodyBytes(upstream));
    const fields = ourFields(track, member.backend.id, requestId);
    if (settings.hsts) fields.push(["strict-transport-security", settings.hsts]);
    visitorCookies(fields, cookie, knownClient, clientId, track, settings.https);
    return answering.answer(request, upstream.status, fields, upstream.body, upstream.head);
  }

  const words = sentence(
    `The ${track} backend${tried.size > 1 ? "s" : ""} ${[...tried].join(", ")} could not be reached (${lastError}).`,
  );
  record(deps, told, track, [...tried].join(","), 502, true, words.length);
  deps.log.line(
    `502 ${method} ${path.slice(0, 80)}: ${[...tried].join(", ")} unreachable (${lastError})`,
  );
  return plain(answering, request, 502, words, requestId, [
    ["x-dropship-track", track],
    ["retry-after", "1"],
  ]);
}

/**
 * A whole body goes out as it is, with its Content-Length; a streamed one (SSE, long polls,
 * downloads over 4 MiB) with the idle timeout off until it ends.
 */
function answerBody(
  body: AnswerBody,
  request: Request,
  server: Server<unknown>,
  idleTimeoutS: number,
): Uint8Array | ReadableStream<Uint8Array> | null {
  if (body === null || body instanceof Uint8Array) return body;
  server.timeout(request, 0);
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      flush: () => server.timeout(request, idleTimeoutS),
    }),
  );
}

/**
 * Whether the visitor is over proxy.rate_limit: 0 when the request may go on (or the limit is
 * off), else the whole seconds until it may. A trusted load balancer's own requests (its health
 * checks) are not counted; the visitors it forwards are, each by their address.
 */
export function rateWait(
  deps: ForwardDeps,
  peer: string,
  peerTrusted: boolean,
  visitor: string,
  now: number,
): number {
  if (deps.rate === undefined || (peerTrusted && visitor === peer)) return 0;
  // the workers' shared buckets need one clock for them all: performance.now() is each one's own
  return deps.rate.take(visitor, performance.timeOrigin + now);
}

/** The sentence a visitor over the limit is told; logged (at a bounded rate) and counted as a refusal. */
export function overRateSaid(deps: ForwardDeps, visitor: string, waitS: number): string {
  const limits = deps.rate?.limits as RequestRateLimits;
  deps.log.line(`429 to ${visitor}: over ${limits.perSecond} requests a second`);
  deps.metrics.refused(429);
  return rateRefusal(limits, waitS);
}

/**
 * A visitor over proxy.rate_limit: 429 with Retry-After, before any backend is asked. Logged (at
 * a bounded rate) and counted as the proxy's other refusals; never in the canary's window.
 */
function overRate<V extends Visit, R>(
  answering: Answering<V, R>,
  told: Told,
  deps: ForwardDeps,
  waitS: number,
): R {
  const { request, visitor, requestId, path } = told;
  const words = sentence(overRateSaid(deps, visitor, waitS));
  deps.access?.add({
    at: Date.now(),
    status: 429,
    method: request.method,
    target: path,
    host: request.headers.get("host"),
    ms: 0,
    bytes: request.method === "HEAD" ? 0 : words.length,
    track: "-",
    backend: "-",
    visitor,
    requestId,
    userAgent: request.headers.get("user-agent"),
  });
  return plain(answering, request, 429, words, requestId, [["retry-after", String(waitS)]]);
}

/** What a backend did wrong, as its status, log line and sentence for the visitor. */
interface BackendFault {
  status: 502 | 504;
  logged: string;
  said: string;
}

const malformedAnswer = (reason: string): BackendFault => ({
  status: 502,
  logged: `answered malformed HTTP: ${reason}`,
  said: "sent a malformed answer.",
});

const noAnswer = (timeoutMs: number): BackendFault => ({
  status: 504,
  logged: `sent no answer within ${timeoutMs / 1000} s`,
  said: `did not answer within ${timeoutMs / 1000} s (proxy.response_timeout).`,
});

/** What forward() knows of a request from its start, for the record of its answer. */
interface Told {
  request: Visit;
  path: string;
  requestId: string;
  visitor: string;
  /** performance.now() at the start */
  started: number;
}

/**
 * The size of a backend's answer's body as the access log gives it: whole, or its Content-Length
 * when streamed; unknown (null) for a stream without one (chunked, or to the connection's end).
 */
export function bodyBytes(answer: Pick<UpstreamAnswer, "body" | "head">): number | null {
  const { body } = answer;
  if (body === null) return 0;
  if (body instanceof Uint8Array) return body.length;
  const length = answer.head.length;
  return length === undefined ? null : Number(length);
}

/**
 * Metrics and the access log for every answer; the canary's window (`counted`) only for what
 * the backends caused. `bytes`: the body's, as bodyBytes() says (none goes with a HEAD's answer).
 */
function record(
  deps: ForwardDeps,
  told: Told,
  track: Track,
  backend: string,
  status: number,
  counted: boolean,
  bytes: number | null,
) {
  const ms = performance.now() - told.started;
  deps.metrics.record(track, backend, status, ms / 1000);
  const now = Date.now();
  if (counted) deps.window.add(track, status >= 500, now, told.visitor, ms);
  deps.access?.add({
    at: now,
    status,
    method: told.request.method,
    target: told.path,
    host: told.request.headers.get("host"),
    ms,
    bytes: told.request.method === "HEAD" ? 0 : bytes,
    track,
    backend,
    visitor: told.visitor,
    requestId: told.requestId,
    userAgent: told.request.headers.get("user-agent"),
  });
}

function clientCookie(name: string, value: string, secure: boolean): string {
  return `${name}=${value}; Path=/; Max-Age=${COOKIE_AGE}; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`;
}

/** Four strings in all: made once. */
const TRACK_COOKIES = new Map<string, string>();
function trackCookie(track: Track, secure: boolean): string {
  const key = `${track}${secure}`;
  let value = TRACK_COOKIES.get(key);
  if (value === undefined) {
    value = clientCookie("dropship_track", track, secure);
    TRACK_COOKIES.set(key, value);
  }
  return value;
}

/** The visitor's id for a new visitor, and its track when the cookie does not say it yet. */
export function visitorCookies(
  fields: [string, string][],
  cookie: string | null,
  knownClient: string | undefined,
  clientId: string,
  track: Track,
  secure = false,
): void {
  if (!knownClient) fields.push(["set-cookie", clientCookie("dropship_client", clientId, secure)]);
  if (cookieValue(cookie, "dropship_track") !== track) {
    fields.push(["set-cookie", trackCookie(track, secure)]);
  }
}

/** The same, on a Headers (the WebSocket handshake's answer). */
export function setVisitorCookies(
  headers: Headers,
  cookie: string | null,
  knownClient: string | undefined,
  clientId: string,
  track: Track,
  secure = false,
): void {
  const fields: [string, string][] = [];
  visitorCookies(fields, cookie, knownClient, clientId, track, secure);
  for (const [name, value] of fields) headers.append(name, value);
}
