import type { Track } from "../shared/routing/model.ts";
import type { ErrorWindow } from "./analysis.ts";
import {
  cookieValue,
  isRetryable,
  prepareDownstream,
  requestIdOf,
  upstreamHeaders,
} from "./headers.ts";
import type { Metrics } from "./metrics.ts";
import type { Routing } from "./routing.ts";

const COOKIE_AGE = 60 * 60 * 24 * 365;
const MAX_TRIES = 3;

export interface ForwardDeps {
  routing: Routing;
  metrics: Metrics;
  window: ErrorWindow;
}

const plain = (status: number, text: string, track: Track, requestId: string) =>
  new Response(`${text}\n`, {
    status,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "x-dropship-track": track,
      "x-request-id": requestId,
      "retry-after": "1",
    },
  });

/**
 * Sends one client request to a backend of its track and streams the answer back. A request
 * that may be repeated and whose connection fails is tried on another backend.
 */
export async function forward(
  request: Request,
  clientIp: string,
  deps: ForwardDeps,
): Promise<Response> {
  const { routing } = deps;
  const started = performance.now();
  const cookie = request.headers.get("cookie");
  const knownClient = cookieValue(cookie, "dropship_client");
  const clientId = knownClient ?? crypto.randomUUID();
  let track = routing.trackFor(clientId);
  const requestId = requestIdOf(request.headers);

  let member = routing.pool.pick(track);
  if (!member && track === "staging") {
    track = "production";
    member = routing.pool.pick(track);
  }
  if (!member) {
    const response = plain(
      503,
      `No healthy ${track} backend is available right now; try again in a moment.`,
      track,
      requestId,
    );
    record(deps, track, "none", 503, started);
    return response;
  }

  const url = request.url;
  const path = url.slice(url.indexOf("/", url.indexOf("//") + 2));
  const method = request.method;
  const retryable = isRetryable(method);
  const headers = upstreamHeaders(request.headers, { clientIp, requestId, clientId, track });
  const tried = new Set<string>();
  let lastError = "";

  while (member) {
    tried.add(member.backend.id);
    member.inFlight++;
    let upstream: Response;
    try {
      upstream = await fetch(member.backend.url + path, {
        method,
        headers,
        body: retryable ? undefined : request.body,
        redirect: "manual",
        decompress: false,
      });
    } catch (error) {
      member.inFlight--;
      lastError = (error as Error).message;
      routing.pool.recordConnectionFailure(member.backend.id, `connection failed: ${lastError}`);
      member = retryable && tried.size < MAX_TRIES ? routing.pool.pick(track, tried) : undefined;
      continue;
    }
    member.inFlight--;
    // The upstream's own Response goes back to the client with its fields edited in place:
    // no second Response, no re-wrapped body stream.
    prepareDownstream(upstream.headers, track, member.backend.id, requestId);
    if (!knownClient)
      upstream.headers.append("set-cookie", clientCookie("dropship_client", clientId));
    if (cookieValue(cookie, "dropship_track") !== track) {
      upstream.headers.append("set-cookie", clientCookie("dropship_track", track));
    }
    record(deps, track, member.backend.id, upstream.status, started);
    return upstream;
  }

  record(deps, track, [...tried].join(","), 502, started);
  return plain(
    502,
    `The ${track} backend${tried.size > 1 ? "s" : ""} ${[...tried].join(", ")} could not be reached (${lastError}).`,
    track,
    requestId,
  );
}

function record(deps: ForwardDeps, track: Track, backend: string, status: number, since: number) {
  deps.metrics.record(track, backend, status, (performance.now() - since) / 1000);
  deps.window.add(track, status >= 500, Date.now());
}

function clientCookie(name: string, value: string): string {
  return `${name}=${value}; Path=/; Max-Age=${COOKIE_AGE}; HttpOnly; SameSite=Lax`;
}
