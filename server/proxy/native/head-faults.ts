import { equalsIgnoringCase, latin1Range, TCHAR } from "../field-names.ts";
import { headEnd, MAX_OWN_HEAD } from "./request-head.ts";

/**
 * The methods Bun.serve reads (measured on Bun 1.4.5): on any other it closes the connection
 * without a word, lower-case `get` included.
 */
const SERVE_METHODS = new Set([
  "ACL",
  "BIND",
  "CHECKOUT",
  "CONNECT",
  "COPY",
  "DELETE",
  "GET",
  "HEAD",
  "LINK",
  "LOCK",
  "M-SEARCH",
  "MERGE",
  "MKACTIVITY",
  "MKCALENDAR",
  "MKCOL",
  "MOVE",
  "NOTIFY",
  "OPTIONS",
  "PATCH",
  "POST",
  "PROPFIND",
  "PROPPATCH",
  "PURGE",
  "PUT",
  "QUERY",
  "REBIND",
  "REPORT",
  "SEARCH",
  "SOURCE",
  "SUBSCRIBE",
  "TRACE",
  "UNBIND",
  "UNLINK",
  "UNLOCK",
  "UNSUBSCRIBE",
]);

/** A request the front answers itself, closing the connection after. */
export interface HeadFault {
  status: 400 | 431 | 501 | 505;
  reason: string;
}

const SHAPE = "send <METHOD> <target> HTTP/1.1, one space between each, then CRLF";
/** Methods are echoed only when they are short tokens: nothing else a stranger sent is. */
const ECHO_UP_TO = 24;

/**
 * Why the request line at the start of `bytes` is not `method SP request-target SP
 * HTTP-version CRLF` (RFC 9112 §3) of a method Bun.serve reads, or undefined when it is, or
 * when it has not all come yet. Bun.serve would answer such a line with a bare `505 HTTP
 * Version Not Supported` (a space in the target, a tab, no version) or close the connection
 * (an unknown method), and would read an obs-text target as UTF-8 and send the app a target
 * the visitor never sent.
 */
export function requestLineFault(bytes: Uint8Array): HeadFault | undefined {
  const lf = bytes.indexOf(10);
  if (lf < 0) return undefined;
  if (lf === 0 || bytes[lf - 1] !== 13) {
    return { status: 400, reason: `The request line ends in a bare LF; ${SHAPE}.` };
  }
  const end = lf - 1;
  if (end === 0) {
    return { status: 400, reason: `The request starts with an empty line; ${SHAPE}.` };
  }
  const spaces = spacesIn(bytes, end);
  if (spaces.length !== 2) {
    return {
      status: 400,
      reason: `The request line is not three parts with one space between each (a space in the target must be sent as %20); ${SHAPE}.`,
    };
  }
  const [first, last] = spaces as [number, number];
  if (first === 0 || first + 1 === last || last + 1 === end) {
    return { status: 400, reason: `The request line has an empty part; ${SHAPE}.` };
  }
  const version = latin1Range(bytes, last + 1, end);
  if (!/^HTTP\/\d\.\d$/.test(version)) {
    return {
      status: 400,
      reason: `The request line does not end in an HTTP version; ${SHAPE}.`,
    };
  }
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
    return {
      status: 505,
      reason: `${version} is not served here; send HTTP/1.1.`,
    };
  }
  for (let i = 0; i < first; i++) {
    if (!TCHAR[bytes[i] as number]) {
      return { status: 400, reason: `The method is not a token; ${SHAPE}.` };
    }
  }
  const method = latin1Range(bytes, 0, first);
  if (!SERVE_METHODS.has(method)) {
    const named = method.length <= ECHO_UP_TO ? `The method ${method}` : "The method";
    return {
      status: 501,
      reason: `${named} is not one this proxy knows; methods are case-sensitive (GET, not get).`,
    };
  }
  for (let i = first + 1; i < last; i++) {
    const c = bytes[i] as number;
    if (c <= 32 || c >= 127) {
      return {
        status: 400,
        reason:
          "The request target has a byte that is not visible ASCII; percent-encode it (%FF for the byte 0xFF).",
      };
    }
  }
  return targetFault(bytes, method, first + 1, last);
}

const SLASH = 47;
const QUESTION = 63;
const ASTERISK = 42;

/**
 * Why the target in bytes[from, to) is not one Bun.serve routes, or undefined when it is.
 * Measured on Bun 1.4.5: it routes a path (`/…`) and an http(s) URL in any case, and hands
 * CONNECT any target (refused by the proxy after, 405) but one starting with `?`, on which it
 * closes without a word; every other target (`*`, a bare name, `host:port`, another scheme)
 * gets a bare `400`.
 */
function targetFault(
  bytes: Uint8Array,
  method: string,
  from: number,
  to: number,
): HeadFault | undefined {
  const start = bytes[from];
  if (start === SLASH) return undefined;
  if (method === "CONNECT") {
    if (start !== QUESTION) return undefined;
    return {
      status: 400,
      reason:
        "The CONNECT target is not host:port, and CONNECT is not served here either: this is a reverse proxy for one web app.",
    };
  }
  if (isHttpUrl(latin1Range(bytes, from, Math.min(to, from + 8)))) return undefined;
  if (start === ASTERISK && to === from + 1) {
    return {
      status: 400,
      reason: `The target * (a question to the server as a whole) is not answered here: this proxy forwards requests for the site's paths; send ${method} / HTTP/1.1.`,
    };
  }
  return {
    status: 400,
    reason:
      "The request target is neither a path nor an http(s) URL; send a path that starts with /, as in GET /index.html HTTP/1.1.",
  };
}

const MISMATCH: HeadFault = {
  status: 400,
  reason:
    "The request target names another host than the Host field (RFC 9112 §3.2.2 has a server take the target's); send the same host in both, or a path alone.",
};

/**
 * Why an absolute-form target (`GET http://host/path`) names another host than the Host
 * field, or undefined when it names the same one (in any case; the scheme's default port and
 * an empty one are no port, userinfo is not the host), when the target is not absolute, or when
 * there is not exactly one Host (refused after, with its own reason). Bun.serve keeps only the
 * target's path and routes by Host, where RFC 9112 §3.2.2 has a server take the target's host:
 * a cache or firewall before the proxy that reads the target would see another site than the
 * app is asked for. HAProxy answers such a request 400, as this does. Called on a head the
 * other checks found sound.
 */
export function authorityFault(bytes: Uint8Array): HeadFault | undefined {
  const lineEnd = bytes.indexOf(10);
  const from = bytes.indexOf(32) + 1;
  const to = bytes.lastIndexOf(32, lineEnd);
  if (bytes[from] === SLASH || !isHttpUrl(latin1Range(bytes, from, Math.min(to, from + 8)))) {
    return undefined;
  }
  const target = latin1Range(bytes, from, to);
  const secure = target.charCodeAt(4) === 115 || target.charCodeAt(4) === 83;
  const rest = target.slice(secure ? 8 : 7);
  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  const host = onlyHost(bytes, lineEnd + 1);
  if (host === undefined) return undefined;
  const name = authority.slice(authority.lastIndexOf("@") + 1);
  return sameHost(name, host, secure ? ":443" : ":80") ? undefined : MISMATCH;
}

/** The value of the one Host field of the fields from `at`, or undefined when not one. */
function onlyHost(bytes: Uint8Array, at: number): string | undefined {
  let host: string | undefined;
  for (;;) {
    const lf = bytes.indexOf(10, at);
    if (lf < 0 || lf - 1 === at) return host;
    const colon = bytes.indexOf(58, at);
    if (equalsIgnoringCase(bytes, at, colon, "host")) {
      if (host !== undefined) return undefined;
      host = latin1Range(bytes, colon + 1, lf - 1).trim();
    }
    at = lf + 1;
  }
}

function sameHost(a: string, b: string, defaultPort: string): boolean {
  const normal = (host: string) => {
    const lower = host.toLowerCase();
    const bare = lower.endsWith(":") ? lower.slice(0, -1) : lower;
    return bare.endsWith(defaultPort) ? bare.slice(0, -defaultPort.length) : bare;
  };
  return normal(a) === normal(b);
}

/** Whether `start` (a target's first 8 bytes) opens an http:// or https:// URL, in any case. */
function isHttpUrl(start: string): boolean {
  const lower = start.toLowerCase();
  return lower.startsWith("http://") || lower.startsWith("https://");
}

/** Where the spaces of bytes[0, end) are, up to three. */
function spacesIn(bytes: Uint8Array, end: number): number[] {
  const at: number[] = [];
  for (let i = 0; i < end && at.length < 3; i++) if (bytes[i] === 32) at.push(i);
  return at;
}

const TOO_BIG: HeadFault = {
  status: 431,
  reason:
    "The request head (its line and fields together) is over 16 KiB; send a shorter URL or fewer and smaller fields (an oversized Cookie is the usual cause).",
};

/**
 * A head that is, or will be, over 16 KiB: Bun.serve's own limit too (measured: a head of
 * 16384 bytes read, one of 16385 a bare `431` with no reason), here said in a sentence.
 */
export function headSizeFault(bytes: Uint8Array): HeadFault | undefined {
  const end = headEnd(bytes, 0);
  if (end === -1) return bytes.length >= MAX_OWN_HEAD ? TOO_BIG : undefined;
  return end > MAX_OWN_HEAD ? TOO_BIG : undefined;
}

/** Bun.serve reads up to this many fields (measured: 198 read, 199 a bare `431`). */
const MAX_FIELDS = 198;
/** Field names are echoed only when they are short tokens, as methods are. */
const fieldName = (bytes: Uint8Array, at: number, end: number) =>
  end - at <= ECHO_UP_TO ? latin1Range(bytes, at, end) : "a field";

/**
 * Why the fields of the head at the start of `bytes` (after a sound request line) are what
 * Bun.serve refuses with a bare `400` or `431`, or undefined when they are not, or when no
 * fault has come yet. Only what Bun.serve refuses is named here, each measured against it:
 * obs-text and DEL in a value, `Chunked` in any case, a Content-Length with leading zeros or
 * spaces, the same Content-Length twice, all pass on as before.
 */
export function fieldFault(bytes: Uint8Array): HeadFault | undefined {
  const lineEnd = bytes.indexOf(10);
  // the request line ends in its version and CRLF
  const http10 = latin1Range(bytes, lineEnd - 9, lineEnd - 1) === "HTTP/1.0";
  const lengths: string[] = [];
  const codings: string[] = [];
  let fields = 0;
  let at = lineEnd + 1;
  for (;;) {
    const lf = bytes.indexOf(10, at);
    if (lf < 0) return undefined;
    if (lf === at || bytes[lf - 1] !== 13)
      return fault(400, "A field line ends in a bare LF; end each line of the head with CRLF.");
    const end = lf - 1;
    if (end === at) break;
    if (++fields > MAX_FIELDS) {
      return fault(431, `The request has more than ${MAX_FIELDS} fields; send fewer.`);
    }
    const first = bytes[at] as number;
    if (first === 32 || first === 9) {
      return fault(
        400,
        "A field line starts with a space or tab (a folded line, which RFC 9112 §5.2 forbids); send each field on one line.",
      );
    }
    const colon = bytes.indexOf(58, at);
    if (colon < 0 || colon > end)
      return fault(400, "A field line has no colon; send each field as Name: value.");
    for (let i = at; i < colon; i++) {
      if (!TCHAR[bytes[i] as number]) {
        return fault(
          400,
          "A field name has a byte a name may not have (a space before the colon, for one); send Name: value, the name a token.",
        );
      }
    }
    if (colon === at)
      return fault(400, "A field line has no name before its colon; send Name: value.");
    for (let i = colon + 1; i < end; i++) {
      const c = bytes[i] as number;
      if (c < 32 && c !== 9) {
        return fault(
          400,
          `The value of ${fieldName(bytes, at, colon)} holds the control byte 0x${c.toString(16).padStart(2, "0")}; send visible characters, spaces and tabs only.`,
        );
      }
    }
    if (equalsIgnoringCase(bytes, at, colon, "content-length")) {
      lengths.push(latin1Range(bytes, colon + 1, end).trim());
    } else if (equalsIgnoringCase(bytes, at, colon, "transfer-encoding")) {
      codings.push(latin1Range(bytes, colon + 1, end).trim());
    }
    at = lf + 1;
  }
  if (lengths.length && codings.length) {
    return fault(
      400,
      "The request has both Content-Length and Transfer-Encoding, which RFC 9112 §6.1 forbids (a way to smuggle a request); send one.",
    );
  }
  if (codings.length && http10) {
    return fault(
      400,
      "Transfer-Encoding is not defined for HTTP/1.0; send HTTP/1.1, or a Content-Length.",
    );
  }
  if (
    codings.length &&
    (codings.length > 1 || (codings[0] as string).toLowerCase() !== "chunked")
  ) {
    return fault(
      400,
      "Transfer-Encoding is read here as chunked alone; send the body chunked, or with a Content-Length.",
    );
  }
  if (lengths.some((length) => !/^\d+$/.test(length))) {
    return fault(400, "Content-Length is not a decimal number; send the body's size in bytes.");
  }
  if (lengths.some((length) => length !== lengths[0])) {
    return fault(400, "The request has Content-Length fields that differ; send one.");
  }
  return undefined;
}

function fault(status: 400 | 431, reason: string): HeadFault {
  return { status, reason };
}
