/** Hop-by-hop fields (RFC 9110 §7.6.1), which a proxy must not forward. */
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "proxy-authenticate",
  "proxy-authorization",
];

/** Removes hop-by-hop fields, including any the Connection field names. */
function stripHopByHop(headers: Headers): void {
  const connection = headers.get("connection");
  if (connection) {
    for (const token of connection.split(",")) {
      const name = token.trim().toLowerCase();
      if (name) headers.delete(name);
    }
  }
  for (const name of HOP_BY_HOP) headers.delete(name);
}

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

/**
 * What the upstream receives: the client's fields without hop-by-hop ones and `Expect` (the
 * proxy answers 100-continue itself), with `Host` kept as nginx's `$host` and kamal-proxy do,
 * and X-Forwarded-* that only a trusted peer may have set before us. Edited in place (the
 * request's own fields are not read again), which spares a copy of every field per request.
 */
export function upstreamHeaders(incoming: Headers, context: ForwardContext): Headers {
  const headers = incoming;
  stripHopByHop(headers);
  headers.delete("expect");
  const host = incoming.get("host") ?? "";
  if (!context.forwardHost) headers.delete("host");
  const authorization = incoming.get("authorization");
  if (authorization !== null && context.isAdminCredential(authorization)) {
    headers.delete("authorization");
  }
  const forwardedFor = context.peerTrusted ? incoming.get("x-forwarded-for") : null;
  headers.set("x-forwarded-for", forwardedFor ? `${forwardedFor}, ${context.peer}` : context.peer);
  if (!context.peerTrusted || !headers.has("x-forwarded-proto")) {
    headers.set("x-forwarded-proto", context.https ? "https" : "http");
  }
  if (!context.peerTrusted || !headers.has("x-forwarded-host")) {
    headers.set("x-forwarded-host", host);
  }
  headers.set("x-request-id", context.requestId);
  headers.set("x-dropship-client", context.clientId);
  headers.set("x-dropship-track", context.track);
  return headers;
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

/** What the client receives, edited in place: no hop-by-hop fields, plus ours. */
export function prepareDownstream(
  headers: Headers,
  track: string,
  backend: string,
  requestId: string,
): void {
  stripHopByHop(headers);
  headers.set("x-dropship-track", track);
  headers.set("x-dropship-backend", backend);
  headers.set("x-request-id", requestId);
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** The client's X-Request-Id when it is sane, else a new one. */
export function requestIdOf(headers: Headers): string {
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
