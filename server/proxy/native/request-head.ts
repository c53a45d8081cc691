import type { FieldSource } from "../headers.ts";
import { latin1 } from "../upstream/head.ts";

/** A head larger than this is not read here: Bun.serve behind answers it (431). */
export const MAX_OWN_HEAD = 16 * 1024;
const MAX_FIELDS = 100;

/** The fields of a request read here, in order, names in lower case. */
export class RequestFields implements FieldSource {
  constructor(
    readonly names: string[],
    readonly values: string[],
  ) {}

  /** Repeated fields joined with ", ", as Headers.get does. */
  get(name: string): string | null {
    let found: string | null = null;
    for (let i = 0; i < this.names.length; i++) {
      if (this.names[i] !== name) continue;
      found = found === null ? (this.values[i] as string) : `${found}, ${this.values[i]}`;
    }
    return found;
  }

  forEach(callback: (value: string, name: string) => void): void {
    for (let i = 0; i < this.names.length; i++) {
      callback(this.values[i] as string, this.names[i] as string);
    }
  }
}

/** A request this front answers itself: plain, bodiless HTTP/1.1 for the app. */
export interface OwnRequest {
  kind: "own";
  method: string;
  /** origin-form: path and query */
  target: string;
  host: string;
  fields: RequestFields;
  /** the visitor asked for the connection to close after the answer */
  close: boolean;
  /** bytes the head took */
  size: number;
}

/**
 * `more`: the head is not all here yet. `pass`: anything this front does not take itself
 * (a body, an upgrade, a reserved path, HTTP/1.0, an odd byte, a bad Host…) goes whole to
 * Bun.serve behind, which answers it as it always has, refusals included.
 */
export type HeadRead = OwnRequest | { kind: "more" } | { kind: "pass" };

const MORE: HeadRead = { kind: "more" };
const PASS: HeadRead = { kind: "pass" };

/** Methods that may come without a body; with no Content-Length or Transfer-Encoding they have none. */
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** Fields that mean a body, an upgrade or a 100-continue: Bun.serve behind handles those. */
const PASSED_FIELDS = new Set(["content-length", "transfer-encoding", "upgrade", "expect"]);

const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TCHAR[c.charCodeAt(0)] = 1;
}

/**
 * Reads a request head from the start of `bytes`, strictly (RFC 9112): a request line of a
 * known method, an origin-form target of visible ASCII and `HTTP/1.1`; field lines of a token,
 * a colon and a value of visible ASCII, spaces and tabs; CRLF everywhere. Whatever is not
 * exactly that is passed on, never guessed at.
 */
export function readRequestHead(bytes: Uint8Array, searchFrom = 0): HeadRead {
  const end = headEnd(bytes, searchFrom);
  if (end === BARE_LF) return PASS;
  if (end < 0) return bytes.length >= MAX_OWN_HEAD ? PASS : MORE;
  if (end > MAX_OWN_HEAD) return PASS;
  // one string for the whole head; every token below is a slice of it
  const text = latin1(bytes, end);

  let at = 0;
  while (at < 8 && bytes[at] !== 32) {
    const c = bytes[at] as number;
    if (c < 65 || c > 90) return PASS;
    at++;
  }
  const method = text.slice(0, at);
  if (!METHODS.has(method) || bytes[at] !== 32 || bytes[at + 1] !== 47) return PASS;
  const targetAt = at + 1;
  at = targetAt;
  while (at < end) {
    const c = bytes[at] as number;
    if (c <= 32 || c >= 127) break;
    at++;
  }
  if (bytes[at] !== 32) return PASS;
  const target = text.slice(targetAt, at);
  if (isReserved(target)) return PASS;
  // " HTTP/1.1\r\n"
  if (
    bytes[at + 1] !== 72 ||
    bytes[at + 2] !== 84 ||
    bytes[at + 3] !== 84 ||
    bytes[at + 4] !== 80 ||
    bytes[at + 5] !== 47 ||
    bytes[at + 6] !== 49 ||
    bytes[at + 7] !== 46 ||
    bytes[at + 8] !== 49 ||
    bytes[at + 9] !== 13 ||
    bytes[at + 10] !== 10
  ) {
    return PASS;
  }
  at += 11;

  const names: string[] = [];
  const values: string[] = [];
  let host: string | undefined;
  let close = false;
  while (at < end - 2) {
    if (names.length === MAX_FIELDS) return PASS;
    const nameAt = at;
    while (at < end && (bytes[at] as number) < 128 && TCHAR[bytes[at] as number]) at++;
    if (at === nameAt || bytes[at] !== 58) return PASS;
    const name = text.slice(nameAt, at).toLowerCase();
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
    const value = text.slice(valueAt, valueEnd);
    at += 2;
    if (PASSED_FIELDS.has(name)) return PASS;
    if (name === "host") {
      if (host !== undefined) return PASS;
      host = value;
    } else if (name === "connection") {
      const tokens = value.toLowerCase();
      if (tokens.includes("upgrade")) return PASS;
      if (tokens.includes("close")) close = true;
    }
    names.push(name);
    values.push(value);
  }
  if (host === undefined || host === "") return PASS;
  return {
    kind: "own",
    method,
    target,
    host,
    fields: new RequestFields(names, values),
    close,
    size: end,
  };
}

/** The proxy's own paths (`/_dropship…`, `/disable/…`): Bun.serve behind answers them. */
function isReserved(target: string): boolean {
  return target.startsWith("/_dropship") || target.startsWith("/disable/");
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
