import { equalsIgnoringCase, latin1Range, NameTable, TCHAR } from "../field-names.ts";
import { type FieldBytes, type FieldSource, RULES, Rule } from "../headers.ts";

/** A head larger than this is not read here: Bun.serve behind answers it (431). */
export const MAX_OWN_HEAD = 16 * 1024;
/**
 * A body announced larger than this (a form is a few hundred bytes) is not read here: Bun.serve
 * behind streams it to the backend.
 */
export const MAX_OWN_BODY = 16 * 1024;
const MAX_FIELDS = 100;

/**
 * The fields of a request read here, as the head's bytes and where each field is in them: a
 * value becomes a string only when asked for (`get`), and the fields that go on to the backend
 * are copied from these bytes (../headers.ts upstreamHead).
 */
export class RequestFields implements FieldSource, FieldBytes {
  constructor(
    readonly bytes: Uint8Array,
    readonly lines: number[],
    readonly rules: Rule[],
  ) {}

  /** These fields as bytes, for upstreamHead. */
  get raw(): FieldBytes {
    return this;
  }

  /** Repeated fields joined with ", ", as Headers.get does; `name` in lower case. */
  get(name: string): string | null {
    const { bytes, lines } = this;
    let found: string | null = null;
    for (let i = 0; i < lines.length; i += 4) {
      if (!equalsIgnoringCase(bytes, lines[i] as number, lines[i + 1] as number, name)) continue;
      const value = latin1Range(bytes, lines[i + 2] as number, lines[i + 3] as number);
      found = found === null ? value : `${found}, ${value}`;
    }
    return found;
  }

  /** Each field in order, its name in lower case. */
  forEach(callback: (value: string, name: string) => void): void {
    const { bytes, lines } = this;
    for (let i = 0; i < lines.length; i += 4) {
      callback(
        latin1Range(bytes, lines[i + 2] as number, lines[i + 3] as number),
        latin1Range(bytes, lines[i] as number, lines[i + 1] as number).toLowerCase(),
      );
    }
  }
}

/**
 * A request this front answers itself: plain HTTP/1.1 (or 1.0) for the app, without a body or
 * with a small one of a Content-Length.
 */
export interface OwnRequest {
  kind: "own";
  method: string;
  /** origin-form: path and query */
  target: string;
  host: string;
  fields: RequestFields;
  /** the visitor asked for the connection to close after the answer (HTTP/1.0: did not ask to keep it) */
  close: boolean;
  /** HTTP/1.0: its answer is not chunked, and says it keeps the connection when it does */
  http10: boolean;
  /** bytes the head took */
  size: number;
  /** bytes of the body after the head (Content-Length, at most MAX_OWN_BODY); 0 without one */
  body: number;
}

/**
 * `more`: the head is not all here yet. `pass`: anything this front does not take itself
 * (a large or chunked body, an upgrade, a reserved path, an odd byte, a bad Host…) goes whole to
 * Bun.serve behind, which answers it as it always has, refusals included.
 */
export type HeadRead = OwnRequest | { kind: "more" } | { kind: "pass" };

const MORE: HeadRead = { kind: "more" };
const PASS: HeadRead = { kind: "pass" };

/** Methods that may come without a body; with no Content-Length or Transfer-Encoding they have none. */
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/** The method in bytes[0, end), as one of METHODS (no string made), or undefined. */
function methodOf(bytes: Uint8Array, end: number): string | undefined {
  for (const method of METHODS) {
    if (method.length !== end) continue;
    let i = 0;
    while (i < end && bytes[i] === method.charCodeAt(i)) i++;
    if (i === end) return method;
  }
  return undefined;
}

/** How this front reads a field: its rule for upstreamHead, or one of these. */
const PASSED = -1;
const CONNECTION = -2;
const LENGTH = -3;
const KINDS = new Map<string, number>(RULES);
// a chunked body, an upgrade or a 100-continue: Bun.serve behind handles those
for (const name of ["transfer-encoding", "upgrade", "expect"]) {
  KINDS.set(name, PASSED);
}
KINDS.set("connection", CONNECTION);
KINDS.set("content-length", LENGTH);
const NAMES = new NameTable<number>(KINDS, Rule.Keep);

/**
 * Reads a request head from the start of `bytes`, strictly (RFC 9112): a request line of a
 * known method, an origin-form target of visible ASCII and `HTTP/1.1` or `HTTP/1.0`; field lines of a token,
 * a colon and a value of visible ASCII, spaces and tabs; CRLF everywhere. Whatever is not
 * exactly that is passed on, never guessed at.
 */
export function readRequestHead(bytes: Uint8Array, searchFrom = 0): HeadRead {
  const end = headEnd(bytes, searchFrom);
  if (end === BARE_LF) return PASS;
  if (end < 0) return bytes.length >= MAX_OWN_HEAD ? PASS : MORE;
  if (end > MAX_OWN_HEAD) return PASS;
  let at = 0;
  while (at < 8 && bytes[at] !== 32) {
    const c = bytes[at] as number;
    if (c < 65 || c > 90) return PASS;
    at++;
  }
  const method = methodOf(bytes, at);
  if (method === undefined || bytes[at] !== 32 || bytes[at + 1] !== 47) return PASS;
  const targetAt = at + 1;
  at = targetAt;
  while (at < end) {
    const c = bytes[at] as number;
    if (c <= 32 || c >= 127) break;
    at++;
  }
  if (bytes[at] !== 32) return PASS;
  if (isReserved(bytes, targetAt, at)) return PASS;
  const target = latin1Range(bytes, targetAt, at);
  // " HTTP/1.1\r\n" or " HTTP/1.0\r\n"
  const minor = bytes[at + 8];
  if (
    bytes[at + 1] !== 72 ||
    bytes[at + 2] !== 84 ||
    bytes[at + 3] !== 84 ||
    bytes[at + 4] !== 80 ||
    bytes[at + 5] !== 47 ||
    bytes[at + 6] !== 49 ||
    bytes[at + 7] !== 46 ||
    (minor !== 49 && minor !== 48) ||
    bytes[at + 9] !== 13 ||
    bytes[at + 10] !== 10
  ) {
    return PASS;
  }
  at += 11;

  const lines: number[] = [];
  const rules: Rule[] = [];
  let host: string | undefined;
  let close = false;
  let keepAlive = false;
  let body = -1;
  while (at < end - 2) {
    if (rules.length === MAX_FIELDS) return PASS;
    const nameAt = at;
    while (at < end && TCHAR[bytes[at] as number]) at++;
    if (at === nameAt || bytes[at] !== 58) return PASS;
    const nameEnd = at;
    at++;
    while (bytes[at] === 32 || bytes[at] === 9) at++;
    const valueAt = at;
    while (at < end) {
      const c = bytes[at] as number;
      if ((c < 32 && c !== 9) || c >= 127) break;
      at++;
    }
    if (bytes[at] !== 13 || bytes[at + 1] !== 10) return PASS;
    let valueEnd = at;
    while (valueEnd > valueAt && (bytes[valueEnd - 1] === 32 || bytes[valueEnd - 1] === 9)) {
      valueEnd--;
    }
    at += 2;
    let kind = NAMES.kindOf(bytes, nameAt, nameEnd);
    if (kind === PASSED) return PASS;
    if (kind === Rule.Host) {
      if (host !== undefined) return PASS;
      host = latin1Range(bytes, valueAt, valueEnd);
    } else if (kind === CONNECTION) {
      const tokens = latin1Range(bytes, valueAt, valueEnd).toLowerCase();
      // a Connection naming the body's length would drop it on the way to the backend
      if (tokens.includes("upgrade") || tokens.includes("length")) return PASS;
      if (tokens.includes("close")) close = true;
      if (tokens.includes("keep-alive")) keepAlive = true;
      kind = Rule.Drop;
    } else if (kind === LENGTH) {
      // one, of digits, small, and not on a GET or HEAD (which Bun.serve behind refuses)
      if (body >= 0 || method === "GET" || method === "HEAD") return PASS;
      body = digitsValue(bytes, valueAt, valueEnd);
      if (body < 0 || body > MAX_OWN_BODY) return PASS;
      kind = Rule.Length;
    }
    lines.push(nameAt, nameEnd, valueAt, valueEnd);
    rules.push(kind as Rule);
  }
  if (host === undefined || host === "") return PASS;
  return {
    kind: "own",
    method,
    target,
    host,
    fields: new RequestFields(bytes, lines, rules),
    // HTTP/1.0 keeps a connection only when asked to (RFC 9112 §9.3)
    close: close || (minor === 48 && !keepAlive),
    http10: minor === 48,
    size: end,
    body: Math.max(body, 0),
  };
}

/** The number bytes[at, end) writes in 1 to 5 decimal digits, or -1. */
function digitsValue(bytes: Uint8Array, at: number, end: number): number {
  if (end <= at || end - at > 5) return -1;
  let value = 0;
  for (let i = at; i < end; i++) {
    const c = bytes[i] as number;
    if (c < 48 || c > 57) return -1;
    value = value * 10 + c - 48;
  }
  return value;
}

/** The proxy's own paths (`/_dropship…`, `/disable/…`): Bun.serve behind answers them. */
function isReserved(bytes: Uint8Array, at: number, end: number): boolean {
  return startsWith(bytes, at, end, "/_dropship") || startsWith(bytes, at, end, "/disable/");
}

function startsWith(bytes: Uint8Array, at: number, end: number, prefix: string): boolean {
  if (end - at < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) {
    if (bytes[at + i] !== prefix.charCodeAt(i)) return false;
  }
  return true;
}

const BARE_LF = -2;

/**
 * The index just past the head's blank line; -1 when it has not come yet; BARE_LF at a line
 * ended without CR, which Bun.serve reads leniently (and this front never waits for a CRLF
 * that will not come).
 */
export function headEnd(bytes: Uint8Array, from = 0): number {
  let i = bytes.indexOf(10, from);
  while (i >= 0) {
    if (bytes[i - 1] !== 13) return BARE_LF;
    if (bytes[i - 2] === 10 && bytes[i - 3] === 13) return i + 1;
    i = bytes.indexOf(10, i + 1);
  }
  return -1;
}
