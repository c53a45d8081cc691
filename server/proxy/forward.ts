import type { Server } from "bun";
import type { Track } from "../shared/routing/model.ts";
import type { ErrorWindow } from "./analysis.ts";
import { announcesBody, refusalOf } from "./classify.ts";
import { type Deadlines, TIMED_OUT } from "./deadlines.ts";
import {
  cookieValue,
  isIdempotent,
  prepareDownstream,
  requestIdOf,
  upstreamHeaders,
  visitorAddress,
} from "./headers.ts";
import type { RateLimitedLog } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import type { Member } from "./pool.ts";
import { pathStart } from "./reserved.ts";
import type { Routing } from "./routing.ts";

const COOKIE_AGE = 60 * 60 * 24 * 365;
const MAX_TRIES = 3;
/**
 * Bun sends an answer's Content-Length only when the whole body is in hand (oven-sh/bun#10507).
 * Small answers nearly always arrive with their headers and keep it as they are; answers
 * between these sizes are read whole first (reading every answer cost ~8% more of the
 * proxy's CPU); larger ones stream, chunked.
 */
const READ_WHOLE_ABOVE = 16 * 1024;
const READ_WHOLE_UP_TO = 4 * 1024 * 1024;

export interface ForwardSettings {
  forwardHost: boolean;
  responseTimeoutMs: number;
  /** the listener's idle timeout in seconds, restored once a streamed answer ends */
  idleTimeoutS: number;
  isTrusted: (address: string) => boolean;
  isAdminCredential: (authorization: string) => boolean;
  /** the listener speaks TLS: X-Forwarded-Proto https, cookies Secure */
  https: boolean;
  /** the Strict-Transport-Security value to send, when HSTS is on (HTTPS only) */
  hsts?: string;
}

export interface ForwardDeps {
  routing: Routing;
  metrics: Metrics;
  window: ErrorWindow;
  log: RateLimitedLog;
  deadlines: Deadlines;
  settings: ForwardSettings;
}

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
  const refusal = refusalOf(method, url, headers.get("host"), announcesBody(method, headers));
  if (!refusal) return undefined;
  deps.log.line(`${refusal.status} to ${peer}: ${refusal.reason}`);
  deps.metrics.refused(refusal.status);
  return plainAnswer(refusal.status, refusal.reason, requestIdOf(headers), {
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
export async function forward(
  request: Request,
  url: string,
  server: Server<unknown>,
  peer: string,
  deps: ForwardDeps,
): Promise<Response> {
  const { routing, settings } = deps;
  const started = performance.now();
  const cookie = request.headers.get("cookie");
  const knownClient = cookieValue(cookie, "dropship_client");
  const clientId = knownClient ?? crypto.randomUUID();
  const requestId = requestIdOf(request.headers);
  const peerTrusted = settings.isTrusted(peer);
  const visitor = peerTrusted
    ? visitorAddress(peer, request.headers.get("x-forwarded-for"), settings.isTrusted)
    : peer;
  let { track, member } = chooseBackend(routing, clientId);
  if (!member) {
    record(deps, track, "none", 503, started, visitor);
    deps.log.line(`503 to ${visitor}: no healthy ${track} backend`);
    return plainAnswer(
      503,
      `No healthy ${track} backend is available right now; try again in a moment.`,
      requestId,
      { "x-dropship-track": track, "retry-after": "1" },
    );
  }

  const path = url.slice(pathStart(url));
  const method = request.method;
  // Bun hands over no body for GET and HEAD (refuse() turned away those that announced one)
  const body = method === "GET" || method === "HEAD" ? null : request.body;
  const retryable = body === null && isIdempotent(method);
  const headers = upstreamHeaders(request.headers, {
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

  while (member) {
    tried.add(member.backend.id);
    member.inFlight++;
    const fetching = fetch(member.backend.url + path, {
      method,
      headers,
      body,
      redirect: "manual",
      decompress: false,
      // the visitor's own signal: their disconnect cancels the upstream request
      signal: request.signal,
    });
    let upstream: Response | typeof TIMED_OUT;
    try {
      upstream = await deps.deadlines.race(fetching);
    } catch (error) {
      member.inFlight--;
      if (request.signal.aborted) {
        record(deps, track, member.backend.id, 499, started);
        deps.log.line(`499 ${method} ${path.slice(0, 80)}: ${visitor} went away before the answer`);
        return plainAnswer(499, "The client closed the request.", requestId);
      }
      lastError = (error as Error).message;
      routing.pool.recordConnectionFailure(member.backend.id, `connection failed: ${lastError}`);
      member = retryable && tried.size < MAX_TRIES ? routing.pool.pick(track, tried) : undefined;
      continue;
    }
    member.inFlight--;
    if (upstream === TIMED_OUT) {
      // the late answer, if it ever comes, is dropped unread
      fetching.then(
        (late) => late.body?.cancel(),
        () => undefined,
      );
      return timedOut(deps, member, track, started, visitor, requestId, method, path);
    }
    record(deps, track, member.backend.id, upstream.status, started, visitor);
    const shaped = shape(upstream, request, server, settings.idleTimeoutS, method);
    const answer = shaped instanceof Promise ? await shaped : shaped;
    // The upstream's own Response goes back with its fields edited in place where it can.
    prepareDownstream(answer.headers, track, member.backend.id, requestId);
    if (settings.hsts) answer.headers.set("strict-transport-security", settings.hsts);
    setVisitorCookies(answer.headers, cookie, knownClient, clientId, track, settings.https);
    return answer;
  }

  record(deps, track, [...tried].join(","), 502, started, visitor);
  deps.log.line(
    `502 ${method} ${path.slice(0, 80)}: ${[...tried].join(", ")} unreachable (${lastError})`,
  );
  return plainAnswer(
    502,
    `The ${track} backend${tried.size > 1 ? "s" : ""} ${[...tried].join(", ")} could not be reached (${lastError}).`,
    requestId,
    { "x-dropship-track": track, "retry-after": "1" },
  );
}

/**
 * The answer as it goes out: a sized body read whole (so Content-Length survives), a streamed
 * one passed through with the idle timeout off until it ends (SSE, long polls, downloads).
 * The upstream's `body` is touched only for a stream: reading it makes Bun copy every answer
 * through a JS stream, which costs more than the whole rest of a request.
 */
function shape(
  upstream: Response,
  request: Request,
  server: Server<unknown>,
  idleTimeoutS: number,
  method: string,
): Response | Promise<Response> {
  const { status } = upstream;
  if (method === "HEAD" || status === 204 || status === 304 || status < 200) return upstream;
  const length = upstream.headers.get("content-length");
  if (length !== null) {
    const size = Number(length);
    return size > READ_WHOLE_ABOVE && size <= READ_WHOLE_UP_TO ? readWhole(upstream) : upstream;
  }
  const body = upstream.body;
  if (body === null) return upstream;
  server.timeout(request, 0);
  const restore = new TransformStream<Uint8Array, Uint8Array>({
    flush: () => server.timeout(request, idleTimeoutS),
  });
  return new Response(body.pipeThrough(restore), {
    status,
    statusText: upstream.statusText,
    headers: upstream.headers,
  });
}

async function readWhole(upstream: Response): Promise<Response> {
  return new Response(await upstream.arrayBuffer(), {
    status: upstream.status,
    statusText: upstream.statusText,
    headers: upstream.headers,
  });
}

function timedOut(
  deps: ForwardDeps,
  member: Member,
  track: Track,
  started: number,
  visitor: string,
  requestId: string,
  method: string,
  path: string,
): Response {
  const seconds = deps.settings.responseTimeoutMs / 1000;
  record(deps, track, member.backend.id, 504, started, visitor);
  deps.log.line(
    `504 ${method} ${path.slice(0, 80)}: ${member.backend.id} sent no answer within ${seconds} s`,
  );
  return plainAnswer(
    504,
    `The ${track} backend ${member.backend.id} did not answer within ${seconds} s (proxy.response_timeout).`,
    requestId,
    { "x-dropship-track": track },
  );
}

/** Metrics for every answer; the canary's window only for what the backends caused. */
function record(
  deps: ForwardDeps,
  track: Track,
  backend: string,
  status: number,
  since: number,
  visitor?: string,
) {
  deps.metrics.record(track, backend, status, (performance.now() - since) / 1000);
  if (visitor !== undefined) deps.window.add(track, status >= 500, Date.now(), visitor);
}

function clientCookie(name: string, value: string, secure: boolean): string {
  return `${name}=${value}; Path=/; Max-Age=${COOKIE_AGE}; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`;
}

/** The visitor's id for a new visitor, and its track when the cookie does not say it yet. */
export function setVisitorCookies(
  headers: Headers,
  cookie: string | null,
  knownClient: string | undefined,
  clientId: string,
  track: Track,
  secure = false,
): void {
  if (!knownClient) headers.append("set-cookie", clientCookie("dropship_client", clientId, secure));
  if (cookieValue(cookie, "dropship_track") !== track) {
    headers.append("set-cookie", clientCookie("dropship_track", track, secure));
  }
}
