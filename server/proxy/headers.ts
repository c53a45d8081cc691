import { latin1Range, lineSize, writeLine } from "./field-names.ts";

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
  /** names and values in turn, each a `name: value` line; Host among them only when forwarded */
  fields: string[];
  /** the visitor's fields kept as they came, written from their bytes before `fields` */
  passed?: PassedLines;
  hasHost: boolean;
  /** the visitor sent a Content-Length, which the body keeps */
  hasLength: boolean;
}

/** A request's fields as bytes (../native/request-head.ts): the head and where each line is. */
export interface FieldBytes {
  readonly bytes: Uint8Array;
  /** four numbers a field: name start and end, value start and end (without spaces around) */
  readonly lines: number[];
  /** each field's rule, by its name */
  readonly rules: Rule[];
}

/** Which of a request's field lines go on: the index in `lines` of each kept one. */
export interface PassedLines {
  fields: FieldBytes;
  kept: number[];
}

/** Fields the proxy sets itself: the visitor's are never passed on. */
const SET_BY_PROXY = new Set(["x-request-id", "x-dropship-client", "x-dropship-track", "expect"]);

/** What becomes of a visitor's field on its way to a backend, by its name. */
export enum Rule {
  Keep = 0,
  Drop = 1,
  Host = 2,
  Authorization = 3,
  ForwardedFor = 4,
  ForwardedProto = 5,
  ForwardedHost = 6,
  Length = 7,
}

export const RULES = new Map<string, Rule>();
for (const name of HOP_BY_HOP) RULES.set(name, Rule.Drop);
for (const name of SET_BY_PROXY) RULES.set(name, Rule.Drop);
RULES.set("host", Rule.Host);
RULES.set("authorization", Rule.Authorization);
RULES.set("x-forwarded-for", Rule.ForwardedFor);
RULES.set("x-forwarded-proto", Rule.ForwardedProto);
RULES.set("x-forwarded-host", Rule.ForwardedHost);
RULES.set("content-length", Rule.Length);

/** The rules whose decision reads the field's value. */
const READS_VALUE = [false, false, true, true, true, false, false, false];

/** What upstreamHead has learnt from the fields so far. */
interface Seen {
  host: string;
  hasHost: boolean;
  hasLength: boolean;
  forwardedFor: string | null;
  forwardedProto: boolean;
  forwardedHost: boolean;
}

/** Whether a field goes on to the backend as it came: the one place this is decided. */
function passes(rule: Rule, value: string, context: ForwardContext, seen: Seen): boolean {
  switch (rule) {
    case Rule.Keep:
      return true;
    case Rule.Drop:
      return false;
    case Rule.Host:
      seen.host = value;
      if (!context.forwardHost) return false;
      seen.hasHost = true;
      return true;
    case Rule.Authorization:
      return !context.isAdminCredential(value);
    case Rule.ForwardedFor:
      if (context.peerTrusted) seen.forwardedFor = value;
      return false;
    case Rule.ForwardedProto:
      if (!context.peerTrusted) return false;
      seen.forwardedProto = true;
      return true;
    case Rule.ForwardedHost:
      if (!context.peerTrusted) return false;
      seen.forwardedHost = true;
      return true;
    case Rule.Length:
      seen.hasLength = true;
      return true;
  }
}

/**
 * What the upstream receives: the client's fields without hop-by-hop ones and `Expect` (the
 * proxy answers 100-continue itself), with `Host` kept as nginx's `$host` and kamal-proxy do,
 * and X-Forwarded-* that only a trusted peer may have set before us. One pass over the fields,
 * rendered straight into the request's head; fields that come as bytes stay bytes.
 */
export function upstreamHead(
  incoming: FieldSource & { raw?: FieldBytes },
  context: ForwardContext,
): UpstreamHead {
  const named = connectionNamed(incoming.get("connection"));
  const seen: Seen = {
    host: "",
    hasHost: false,
    hasLength: false,
    forwardedFor: null,
    forwardedProto: false,
    forwardedHost: false,
  };
  const fields: string[] = [];
  let passed: PassedLines | undefined;
  const raw = incoming.raw;
  if (raw) {
    const { bytes, lines: at, rules } = raw;
    const kept: number[] = [];
    for (let i = 0; i < at.length; i += 4) {
      let rule = rules[i >> 2] as Rule;
      if (named?.has(latin1Range(bytes, at[i] as number, at[i + 1] as number).toLowerCase())) {
        rule = Rule.Drop;
      }
      const value = READS_VALUE[rule]
        ? latin1Range(bytes, at[i + 2] as number, at[i + 3] as number)
        : "";
      if (passes(rule, value, context, seen)) kept.push(i);
    }
    passed = { fields: raw, kept };
  } else {
    incoming.forEach((value, name) => {
      const rule = named?.has(name) ? Rule.Drop : (RULES.get(name) ?? Rule.Keep);
      if (passes(rule, value, context, seen)) {
        fields.push(name, rule === Rule.Length ? oneLength(value) : value);
      }
    });
  }
  const { forwardedFor } = seen;
  fields.push("x-forwarded-for", forwardedFor ? `${forwardedFor}, ${context.peer}` : context.peer);
  if (!seen.forwardedProto) fields.push("x-forwarded-proto", context.https ? "https" : "http");
  if (!seen.forwardedHost) fields.push("x-forwarded-host", seen.host);
  fields.push(
    "x-request-id",
    context.requestId,
    "x-dropship-client",
    context.clientId,
    "x-dropship-track",
    context.track,
  );
  return { fields, passed, hasHost: seen.hasHost, hasLength: seen.hasLength };
}

/**
 * One Content-Length: Bun.serve reads repeated equal ones (RFC 9112 §6.3 allows it), refuses
 * ones that differ, and joins the rest as `2, 2`, which a backend refuses as no number.
 */
function oneLength(value: string): string {
  const comma = value.indexOf(",");
  return comma < 0 ? value : value.slice(0, comma).trim();
}

/** Bytes that writePassed writes. */
export function passedSize(passed: PassedLines): number {
  const { lines } = passed.fields;
  let size = 0;
  for (const i of passed.kept) size += lineSize(lines, i);
  return size;
}

/** Writes the kept lines as `name: value` CRLF, names in lower case, from `at`; returns the end. */
export function writePassed(passed: PassedLines, out: Uint8Array, at: number): number {
  const { bytes, lines } = passed.fields;
  for (const i of passed.kept) at = writeLine(bytes, lines, i, out, at);
  return at;
}

/** The same fields as a Headers (the WebSocket client takes them so). */
export function upstreamHeaders(incoming: Headers, context: ForwardContext): Headers {
  const headers = new Headers();
  const { fields } = upstreamHead(incoming, context);
  for (let i = 0; i < fields.length; i += 2) {
    headers.append(fields[i] as string, fields[i + 1] as string);
  }
  return headers;
}

/**
 * The fields Connection names, which were for this hop only; those dropped anyway (its usual
 * `keep-alive`) are left out, so that a browser's request needs no field's name as a string.
 */
function connectionNamed(connection: string | null): Set<string> | undefined {
  if (!connection || connection.toLowerCase() === "keep-alive") return undefined;
  const named = connectionTokens(connection);
  for (const name of named) if (RULES.get(name) === Rule.Drop) named.delete(name);
  return named.size > 0 ? named : undefined;
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
