/** Hop-by-hop fields (RFC 9110 §7.6.1), which a proxy must not forward. */
export const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "proxy-authenticate",
  "proxy-authorization",
]);

export interface ForwardContext {
  /** the address the connection came from */
  peer: string;
  /** whether that peer is one of proxy.trusted_proxies (a load balancer in front) */
  peerTrusted: boolean;
  /** keep the client's Host (true) or let the backend's be sent (false) */
  forwardHost: boolean;
  requestId: string;
  clientId: string;
  track: string;
  /** the admin token: an Authorization field carrying it never reaches a backend */
  isAdminCredential: (authorization: string) => boolean;
  /** the visitor came over TLS */
  https?: boolean;
}

/** A request's fields, read by name or in order: a Headers, or the own front's (../native). */
export interface FieldSource {
  get(name: string): string | null;
  forEach(callback: (value: string, name: string) => void): void;
}

/** The request's fields as they go to the backend, rendered as header lines. */
export interface UpstreamHead {
  /** `name: value\r\n` lines; Host among them only when forwarded */
  lines: string;
  hasHost: boolean;
  /** the visitor sent a Content-Length, which the body keeps */
  hasLength: boolean;
}

/** Fields the proxy sets itself: the visitor's are never passed on. */
const SET_BY_PROXY = new Set(["x-request-id", "x-dropship-client", "x-dropship-track", "expect"]);

/**
 * What the upstream receives: the client's fields without hop-by-hop ones and `Expect` (the
 * proxy answers 100-continue itself), with `Host` kept as nginx's `$host` and kamal-proxy do,
 * and X-Forwarded-* that only a trusted peer may have set before us. One pass over the fields,
 * rendered straight into the request's head.
 */
export function upstreamHead(incoming: FieldSource, context: ForwardContext): UpstreamHead {
  const connection = incoming.get("connection");
  const named = connection ? connectionTokens(connection) : undefined;
  let lines = "";
  let host = "";
  let hasHost = false;
  let hasLength = false;
  let forwardedFor: string | null = null;
  let forwardedProto = false;
  let forwardedHost = false;
  incoming.forEach((value, name) => {
    if (HOP_BY_HOP.has(name) || SET_BY_PROXY.has(name) || named?.has(name)) return;
    switch (name) {
      case "host":
        host = value;
        if (!context.forwardHost) return;
        hasHost = true;
        break;
      case "authorization":
        if (context.isAdminCredential(value)) return;
        break;
      case "x-forwarded-for":
        if (context.peerTrusted) forwardedFor = value;
        return;
      case "x-forwarded-proto":
        if (!context.peerTrusted) return;
        forwardedProto = true;
        break;
      case "x-forwarded-host":
        if (!context.peerTrusted) return;
        forwardedHost = true;
        break;
      case "content-length":
        hasLength = true;
        break;
    }
    lines += `${name}: ${value}\r\n`;
  });
  lines += `x-forwarded-for: ${forwardedFor ? `${forwardedFor}, ${context.peer}` : context.peer}\r\n`;
  if (!forwardedProto) lines += `x-forwarded-proto: ${context.https ? "https" : "http"}\r\n`;
  if (!forwardedHost) lines += `x-forwarded-host: ${host}\r\n`;
  lines += `x-request-id: ${context.requestId}\r\nx-dropship-client: ${context.clientId}\r\nx-dropship-track: ${context.track}\r\n`;
  return { lines, hasHost, hasLength };
}

/** The same fields as a Headers (the WebSocket client takes them so). */
export function upstreamHeaders(incoming: Headers, context: ForwardContext): Headers {
  const headers = new Headers();
  for (const line of upstreamHead(incoming, context).lines.split("\r\n")) {
    const colon = line.indexOf(": ");
    if (colon > 0) headers.append(line.slice(0, colon), line.slice(colon + 2));
  }
  return headers;
}

function connectionTokens(value: string): Set<string> {
  const names = new Set<string>();
  for (const token of value.split(",")) {
    const name = token.trim().toLowerCase();
    if (name) names.add(name);
  }
  return names;
}

/**
 * The visitor's own address: the peer, or, behind trusted proxies, the right-most address in
 * X-Forwarded-For that is not one of them (the left part is whatever the client claimed).
 */
export function visitorAddress(
  peer: string,
  forwardedFor: string | null,
  isTrusted: (address: string) => boolean,
): string {
  if (!forwardedFor || !isTrusted(peer)) return peer;
  const hops = forwardedFor.split(",");
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = (hops[i] as string).trim();
    if (hop && !isTrusted(hop)) return hop.slice(0, 64);
  }
  return peer;
}

/** The names of the fields the proxy adds to every answer: a backend's own are dropped (./upstream/head.ts). */
export const OURS = new Set(["x-dropship-track", "x-dropship-backend", "x-request-id"]);

/** What the proxy adds to the backend's fields for the visitor: the track, backend and request id. */
export function ourFields(track: string, backend: string, requestId: string): [string, string][] {
  return [
    ["x-dropship-track", track],
    ["x-dropship-backend", backend],
    ["x-request-id", requestId],
  ];
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** The client's X-Request-Id when it is sane, else a new one. */
export function requestIdOf(headers: FieldSource): string {
  const given = headers.get("x-request-id");
  return given && REQUEST_ID.test(given) ? given : crypto.randomUUID();
}

/** A cookie's value from a Cookie header, without parsing the rest. */
export function cookieValue(cookie: string | null, name: string): string | undefined {
  if (!cookie) return undefined;
  const at = cookie.indexOf(`${name}=`);
  if (at < 0 || (at > 0 && cookie[at - 1] !== " " && cookie[at - 1] !== ";")) return undefined;
  const start = at + name.length + 1;
  const end = cookie.indexOf(";", start);
  const value = cookie.slice(start, end < 0 ? undefined : end).trim();
  return /^[\w-]{1,64}$/.test(value) ? value : undefined;
}

/** Methods that may be sent twice (RFC 9110 §9.2.2); a retry also needs the body unsent. */
export function isIdempotent(method: string): boolean {
  return method === "GET" || method === "HEAD" || method === "OPTIONS";
}
