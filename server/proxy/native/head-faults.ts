import { latin1Range, TCHAR } from "../field-names.ts";
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
  return undefined;
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
