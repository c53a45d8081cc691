import { HOP_BY_HOP } from "../headers.ts";

/**
 * An upstream answer's head, parsed strictly (RFC 9112). The backends are our own, but a
 * proxy that is lenient with them is one a compromised or buggy app can use to split answers
 * or smuggle a second one into a shared connection; anything doubtful is a 502 and the
 * connection is closed.
 */

/** How the body after the head is delimited. */
export type Framing =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" };

export interface ResponseHead {
  status: number;
  reason: string;
  /** lower-case names, hop-by-hop fields (and those Connection names) already left out */
  fields: [string, string][];
  framing: Framing;
  /** the connection may carry another request after this answer */
  reusable: boolean;
  /** bytes the head took, CRLF CRLF included */
  size: number;
}

export type HeadResult = ResponseHead | { error: string } | undefined;

export const MAX_HEAD_BYTES = 64 * 1024;
const MAX_FIELDS = 200;

const CR = 13;
const LF = 10;

/**
 * The index just past the head's CRLF CRLF, searching from `from`; -1 while incomplete, -2 at
 * a bare LF (a head that would otherwise never end for us, while another parser sees it end).
 */
export function headEnd(bytes: Uint8Array, from = 0): number {
  for (let i = from; i < bytes.length; i++) {
    if (bytes[i] !== LF) continue;
    if (i === 0 || bytes[i - 1] !== CR) return -2;
    if (i >= 3 && bytes[i - 2] === LF && bytes[i - 3] === CR) return i + 1;
  }
  return -1;
}

/** tchar (RFC 9110 §5.6.2), by byte */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TCHAR[c.charCodeAt(0)] = 1;
}
/** field-value bytes: visible, obs-text, SP and HTAB; no CR, LF, NUL or other controls */
const VCHAR = new Uint8Array(256);
for (let b = 0; b < 256; b++) VCHAR[b] = b === 9 || (b >= 32 && b !== 127) ? 1 : 0;

/**
 * Parses the head at the start of `bytes`, answering the request made with `method`.
 * undefined: not all of it has arrived; `{ error }`: the answer is malformed.
 */
export function parseHead(bytes: Uint8Array, method: string, searchFrom = 0): HeadResult {
  const end = headEnd(bytes, searchFrom);
  if (end === -2) return { error: "a line in its head does not end in CRLF" };
  if (end < 0 || end > MAX_HEAD_BYTES) {
    return bytes.length > MAX_HEAD_BYTES || end > MAX_HEAD_BYTES
      ? { error: `its header section is larger than ${MAX_HEAD_BYTES} bytes` }
      : undefined;
  }
  // status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF
  if (
    end < 14 ||
    bytes[0] !== 72 ||
    bytes[1] !== 84 ||
    bytes[2] !== 84 ||
    bytes[3] !== 80 ||
    bytes[4] !== 47 ||
    bytes[5] !== 49 ||
    bytes[6] !== 46 ||
    (bytes[7] !== 48 && bytes[7] !== 49) ||
    bytes[8] !== 32 ||
    !isDigit(bytes[9]) ||
    !isDigit(bytes[10]) ||
    !isDigit(bytes[11]) ||
    bytes[9] === 48 ||
    (bytes[9] as number) > 53
  ) {
    return {
      error: `its status line is not HTTP/1.x: ${JSON.stringify(text(bytes, 0, Math.min(end, 60)))}`,
    };
  }
  const head = latin1(bytes, end);
  const http10 = bytes[7] === 48;
  const status =
    ((bytes[9] as number) - 48) * 100 +
    ((bytes[10] as number) - 48) * 10 +
    ((bytes[11] as number) - 48);
  let at = 12;
  let reason = "";
  const statusEnd = lineEnd(bytes, at, end);
  if (statusEnd < 0) return { error: "a line in its head does not end in CRLF" };
  if (statusEnd > at) {
    if (bytes[at] !== 32) return { error: "its status code is not followed by a space" };
    for (let i = at + 1; i < statusEnd; i++) {
      if (!VCHAR[bytes[i] as number])
        return { error: "its reason phrase holds a control character" };
    }
    reason = head.slice(at + 1, statusEnd);
  }
  at = statusEnd + 2;

  const fields: [string, string][] = [];
  let lengths: string[] | undefined;
  let transferEncoding: string | undefined;
  let connection: string | undefined;
  let count = 0;
  while (at < end - 2) {
    const stop = lineEnd(bytes, at, end);
    if (stop < 0) return { error: "a line in its head does not end in CRLF" };
    if (++count > MAX_FIELDS) return { error: `it has more than ${MAX_FIELDS} header fields` };
    let colon = at;
    while (colon < stop && TCHAR[bytes[colon] as number]) colon++;
    if (colon === at || bytes[colon] !== 58) {
      if (bytes[at] === 32 || bytes[at] === 9)
        return { error: "it folds a header field over lines (obs-fold)" };
      return {
        error: `the field name ${JSON.stringify(head.slice(at, Math.min(stop, at + 60)))} is not a token followed by ':'`,
      };
    }
    let from = colon + 1;
    let to = stop;
    for (let i = from; i < to; i++) {
      if (!VCHAR[bytes[i] as number])
        return { error: `the ${head.slice(at, colon)} field holds a control character` };
    }
    while (from < to && (bytes[from] === 32 || bytes[from] === 9)) from++;
    while (to > from && (bytes[to - 1] === 32 || bytes[to - 1] === 9)) to--;
    const name = head.slice(at, colon).toLowerCase();
    const value = head.slice(from, to);
    at = stop + 2;
    if (name === "content-length") {
      if (lengths === undefined) lengths = [value];
      else lengths.push(value);
      continue;
    }
    if (name === "transfer-encoding") {
      if (transferEncoding !== undefined) return { error: "it has two Transfer-Encoding fields" };
      transferEncoding = value.toLowerCase();
      continue;
    }
    if (name === "connection") {
      connection =
        connection === undefined ? value.toLowerCase() : `${connection},${value.toLowerCase()}`;
      continue;
    }
    if (HOP_BY_HOP.has(name)) continue;
    fields.push([name, value]);
  }

  let closes = http10;
  if (connection !== undefined) {
    const named = new Set(connection.split(",").map((t) => t.trim()));
    if (named.has("close")) closes = true;
    for (let i = fields.length - 1; i >= 0; i--) {
      if (named.has((fields[i] as [string, string])[0])) fields.splice(i, 1);
    }
  }
  const bodiless = method === "HEAD" || status < 200 || status === 204 || status === 304;

  let length: number | undefined;
  if (lengths !== undefined) {
    // a list ("5, 5") or repeated fields that agree are one length (RFC 9110 §8.6)
    const all =
      lengths.length === 1 && !lengths[0]?.includes(",")
        ? lengths
        : lengths.flatMap((v) => v.split(",").map((p) => p.trim()));
    if (!all.every((v) => DIGITS.test(v) && v === all[0])) {
      return {
        error: `its Content-Length ${JSON.stringify(lengths.join(", ").slice(0, 60))} is not one number`,
      };
    }
    length = Number(all[0]);
    // passed on as it came: a HEAD or 304 answer says the size it would have had
    fields.push(["content-length", all[0] as string]);
  }
  if (transferEncoding !== undefined && lengths !== undefined) {
    return { error: "it has both Transfer-Encoding and Content-Length" };
  }
  if (transferEncoding !== undefined && transferEncoding !== "chunked") {
    return {
      error: `its Transfer-Encoding ${JSON.stringify(transferEncoding.slice(0, 40))} is not chunked`,
    };
  }
  if (status === 101) return { error: "it switches protocols, which was not asked for" };

  let framing: Framing;
  if (bodiless) framing = { kind: "none" };
  else if (transferEncoding !== undefined) framing = { kind: "chunked" };
  else if (length !== undefined) framing = { kind: "length", length };
  else framing = { kind: "close" };
  return {
    status,
    reason,
    fields,
    framing,
    reusable: !closes && framing.kind !== "close",
    size: end,
  };
}

const DIGITS = /^\d{1,15}$/;

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= 48 && byte <= 57;
}

/** The index of the CR of the CRLF ending the line that starts at `from`; -1 for a bare CR or LF. */
function lineEnd(bytes: Uint8Array, from: number, end: number): number {
  for (let i = from; i < end; i++) {
    const byte = bytes[i];
    if (byte === 13) return bytes[i + 1] === 10 ? i : -1;
    if (byte === 10) return -1;
  }
  return -1;
}

function text(bytes: Uint8Array, from: number, to: number): string {
  return latin1(bytes.subarray(from, to), to - from);
}

const bufferToString = Buffer.prototype.toString;

/**
 * The first `end` bytes as a string, one character per byte (header bytes are Latin-1). Read
 * in place: a Buffer over `bytes.buffer` costs the typed array its fast form, and twice the time.
 */
export function latin1(bytes: Uint8Array, end: number): string {
  return bufferToString.call(bytes, "latin1", 0, end);
}

export function isHeadError(result: HeadResult): result is { error: string } {
  return result !== undefined && "error" in result;
}
