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
  clientIp: string;
  requestId: string;
  clientId: string;
  track: string;
}

/**
 * What the upstream receives: the client's fields without hop-by-hop ones, `Host` (fetch sets
 * the backend's) and `Expect` (the proxy answers 100-continue itself), plus X-Forwarded-*.
 */
export function upstreamHeaders(incoming: Headers, context: ForwardContext): Headers {
  const headers = new Headers(incoming);
  stripHopByHop(headers);
  const host = headers.get("host");
  headers.delete("host");
  headers.delete("expect");
  const forwardedFor = incoming.get("x-forwarded-for");
  headers.set(
    "x-forwarded-for",
    forwardedFor ? `${forwardedFor}, ${context.clientIp}` : context.clientIp,
  );
  headers.set("x-forwarded-proto", "http");
  if (host) headers.set("x-forwarded-host", host);
  headers.set("x-request-id", context.requestId);
  headers.set("x-dropship-client", context.clientId);
  headers.set("x-dropship-track", context.track);
  return headers;
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

/** Methods that may be sent twice (RFC 9110 §9.2.2) and carry no body, so a retry is safe. */
export function isRetryable(method: string): boolean {
  return method === "GET" || method === "HEAD" || method === "OPTIONS";
}
