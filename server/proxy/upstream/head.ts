import {
  equalsIgnoringCase,
  latin1Range,
  lineSize,
  NameTable,
  TCHAR,
  writeLine,
} from "../field-names.ts";
import { HOP_BY_HOP, OURS } from "../headers.ts";

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

/**
 * An answer's head as read: its bytes and where in them the parts the visitor gets are. No
 * string is made from it unless asked (`reason`, `fields`): the own front writes the kept field
 * lines from these bytes straight into the visitor's answer (../native/answer.ts).
 */
export class ResponseHead {
  status = 0;
  framing: Framing = { kind: "close" };
  /** the connection may carry another request after this answer */
  reusable = false;
  /** bytes the head took, CRLF CRLF included */
  size = 0;
  /** the backend sent a Date, which is passed on (no second one is added) */
  dated = false;
  reasonAt = 0;
  reasonEnd = 0;
  /**
   * The kept field lines, four numbers each: name start and end, value start and end (the
   * value without its surrounding spaces). Hop-by-hop fields, those Connection names, the
   * proxy's own names and Content-Length are not among them.
   */
  lines: number[] = [];
  /** the Content-Length's value as it goes on, when there is one: a range, or a string */
  lengthAt = -1;
  lengthEnd = -1;
  lengthText: string | undefined;

  constructor(readonly bytes: Uint8Array) {}

  get reason(): string {
    return this.reasonEnd > this.reasonAt
      ? latin1Range(this.bytes, this.reasonAt, this.reasonEnd)
      : "";
  }

  /** The Content-Length passed on: a HEAD or 304 answer says the size it would have had. */
  get length(): string | undefined {
    if (this.lengthText !== undefined) return this.lengthText;
    return this.lengthAt < 0 ? undefined : latin1Range(this.bytes, this.lengthAt, this.lengthEnd);
  }

  /** The kept fields as lower-case names and values, Content-Length last (for a Response). */
  get fields(): [string, string][] {
    const { bytes, lines } = this;
    const out: [string, string][] = [];
    for (let i = 0; i < lines.length; i += 4) {
      out.push([
        latin1Range(bytes, lines[i] as number, lines[i + 1] as number).toLowerCase(),
        latin1Range(bytes, lines[i + 2] as number, lines[i + 3] as number),
      ]);
    }
    const length = this.length;
    if (length !== undefined) out.push(["content-length", length]);
    return out;
  }

  /** Bytes that writeFields writes. */
  get fieldsSize(): number {
    const lines = this.lines;
    let size = 0;
    for (let i = 0; i < lines.length; i += 4) size += lineSize(lines, i);
    return size;
  }

  /** Writes the kept fields as `name: value` CRLF lines, names in lower case, from `at`; returns the end. */
  writeFields(out: Uint8Array, at: number): number {
    const { bytes, lines } = this;
    for (let i = 0; i < lines.length; i += 4) at = writeLine(bytes, lines, i, out, at);
    return at;
  }

  /** Writes the reason phrase's bytes from `at`; returns the end. */
  writeReason(out: Uint8Array, at: number): number {
    const { bytes, reasonEnd } = this;
    for (let b = this.reasonAt; b < reasonEnd; b++) out[at++] = bytes[b] as number;
    return at;
  }
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

/** field-value bytes: visible, obs-text, SP and HTAB; no CR, LF, NUL or other controls */
const VCHAR = new Uint8Array(256);
for (let b = 0; b < 256; b++) VCHAR[b] = b === 9 || (b >= 32 && b !== 127) ? 1 : 0;

/** What the parser does with a field, by its name. */
enum Kind {
  Kept = 0,
  Dropped = 1,
  Length = 2,
  TransferEncoding = 3,
  Connection = 4,
  Date = 5,
}

/**
 * Names that are not simply kept: hop-by-hop ones and the proxy's own are dropped (the proxy
 * sets its own), framing and Connection are read, a Date is noted.
 */
const KINDS = new Map<string, Kind>();
for (const name of HOP_BY_HOP) KINDS.set(name, Kind.Dropped);
for (const name of OURS) KINDS.set(name, Kind.Dropped);
// read rather than dropped (both are hop-by-hop too)
KINDS.set("transfer-encoding", Kind.TransferEncoding);
KINDS.set("connection", Kind.Connection);
KINDS.set("content-length", Kind.Length);
KINDS.set("date", Kind.Date);
const NAMES = new NameTable(KINDS, Kind.Kept);

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
  const head = new ResponseHead(bytes);
  const http10 = bytes[7] === 48;
  const status =
    ((bytes[9] as number) - 48) * 100 +
    ((bytes[10] as number) - 48) * 10 +
    ((bytes[11] as number) - 48);
  head.status = status;
  let at = 12;
  const statusEnd = lineEnd(bytes, at, end);
  if (statusEnd < 0) return { error: "a line in its head does not end in CRLF" };
  if (statusEnd > at) {
    if (bytes[at] !== 32) return { error: "its status code is not followed by a space" };
    for (let i = at + 1; i < statusEnd; i++) {
      if (!VCHAR[bytes[i] as number])
        return { error: "its reason phrase holds a control character" };
    }
    head.reasonAt = at + 1;
    head.reasonEnd = statusEnd;
  }
  at = statusEnd + 2;

  const lines = head.lines;
  /** Content-Length values: ranges, two numbers each */
  let lengths: number[] | undefined;
  let chunked = false;
  let transferEncodings = 0;
  /** a Transfer-Encoding other than chunked, refused below */
  let coding: string | undefined;
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
        error: `the field name ${JSON.stringify(text(bytes, at, Math.min(stop, at + 60)))} is not a token followed by ':'`,
      };
    }
    let from = colon + 1;
    let to = stop;
    for (let i = from; i < to; i++) {
      if (!VCHAR[bytes[i] as number])
        return { error: `the ${text(bytes, at, colon)} field holds a control character` };
    }
    while (from < to && (bytes[from] === 32 || bytes[from] === 9)) from++;
    while (to > from && (bytes[to - 1] === 32 || bytes[to - 1] === 9)) to--;
    const kind = NAMES.kindOf(bytes, at, colon);
    const nameAt = at;
    at = stop + 2;
    switch (kind) {
      case Kind.Kept:
      case Kind.Date:
        if (kind === Kind.Date) head.dated = true;
        lines.push(nameAt, colon, from, to);
        break;
      case Kind.Length:
        if (lengths === undefined) lengths = [from, to];
        else lengths.push(from, to);
        break;
      case Kind.TransferEncoding:
        if (++transferEncodings > 1) return { error: "it has two Transfer-Encoding fields" };
        chunked = equalsIgnoringCase(bytes, from, to, "chunked");
        if (!chunked) coding = text(bytes, from, Math.min(to, from + 40)).toLowerCase();
        break;
      case Kind.Connection: {
        const value = text(bytes, from, to).toLowerCase();
        connection = connection === undefined ? value : `${connection},${value}`;
        break;
      }
    }
  }

  let closes = http10;
  if (connection !== undefined) {
    const named = new Set(connection.split(",").map((t) => t.trim()));
    if (named.has("close")) closes = true;
    // tokens naming fields that are never kept (its usual keep-alive) need no look at the lines
    for (const name of named) {
      const kind = KINDS.get(name);
      if (kind !== undefined && kind !== Kind.Date) named.delete(name);
    }
    if (named.size > 0) dropNamed(head, named);
  }
  const bodiless = method === "HEAD" || status < 200 || status === 204 || status === 304;

  let length: number | undefined;
  if (lengths !== undefined) {
    length = readLength(head, lengths);
    if (length === undefined) {
      const given: string[] = [];
      for (let i = 0; i < lengths.length; i += 2) {
        given.push(text(bytes, lengths[i] as number, lengths[i + 1] as number));
      }
      return {
        error: `its Content-Length ${JSON.stringify(given.join(", ").slice(0, 60))} is not one number`,
      };
    }
  }
  if (transferEncodings > 0 && lengths !== undefined) {
    return { error: "it has both Transfer-Encoding and Content-Length" };
  }
  if (coding !== undefined) {
    return { error: `its Transfer-Encoding ${JSON.stringify(coding)} is not chunked` };
  }
  if (status === 101) return { error: "it switches protocols, which was not asked for" };

  if (bodiless) head.framing = NONE;
  else if (chunked) head.framing = CHUNKED;
  else if (length !== undefined) head.framing = { kind: "length", length };
  else head.framing = CLOSE;
  head.reusable = !closes && head.framing.kind !== "close";
  head.size = end;
  return head;
}

const NONE: Framing = { kind: "none" };
const CHUNKED: Framing = { kind: "chunked" };
const CLOSE: Framing = { kind: "close" };

/**
 * The Content-Length, set on `head` as it goes on; undefined unless the values are one number.
 * A list ("5, 5") or repeated fields that agree are one length (RFC 9110 §8.6).
 */
function readLength(head: ResponseHead, lengths: number[]): number | undefined {
  const bytes = head.bytes;
  if (lengths.length === 2) {
    const at = lengths[0] as number;
    const to = lengths[1] as number;
    let value = 0;
    let i = at;
    for (; i < to && i - at < 15; i++) {
      const c = bytes[i] as number;
      if (c < 48 || c > 57) break;
      value = value * 10 + c - 48;
    }
    if (i === to && to > at) {
      head.lengthAt = at;
      head.lengthEnd = to;
      return value;
    }
  }
  const all: string[] = [];
  for (let i = 0; i < lengths.length; i += 2) {
    for (const part of text(bytes, lengths[i] as number, lengths[i + 1] as number).split(",")) {
      all.push(part.trim());
    }
  }
  if (!all.every((v) => DIGITS.test(v) && v === all[0])) return undefined;
  head.lengthText = all[0] as string;
  return Number(all[0]);
}

/** Leaves out the kept fields the Connection field names (they were for this hop only). */
function dropNamed(head: ResponseHead, named: Set<string>): void {
  const { bytes, lines } = head;
  const kept: number[] = [];
  for (let i = 0; i < lines.length; i += 4) {
    const name = text(bytes, lines[i] as number, lines[i + 1] as number).toLowerCase();
    if (!named.has(name))
      kept.push(
        lines[i] as number,
        lines[i + 1] as number,
        lines[i + 2] as number,
        lines[i + 3] as number,
      );
    else if (name === "date") head.dated = false;
  }
  head.lines = kept;
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
  return latin1Range(bytes, from, to);
}

export function isHeadError(result: HeadResult): result is { error: string } {
  return result !== undefined && "error" in result;
}
