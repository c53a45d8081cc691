import {
  CHUNKED_LINE,
  decimalSize,
  fieldSize,
  writeDecimal,
  writeField,
  writeLatin1,
} from "../field-names.ts";
import type { AnswerBody } from "../forward.ts";
import type { ResponseHead } from "../upstream/head.ts";

/** Reasons for the statuses the proxy writes itself (an upstream's own reason is passed on). */
const REASONS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  499: "Client Closed Request",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/**
 * How the body follows the head; `raw-stream`: a stream of no known length to an HTTP/1.0
 * visitor, who cannot read chunks: as it comes, and the connection closes after it.
 */
export type Framing = "none" | "whole" | "sized-stream" | "chunked-stream" | "raw-stream";

let dateSecond = 0;
let dateValue = "";
/** The Date field's value, made once a second. */
function httpDate(now: number): string {
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(second * 1000).toUTCString();
  }
  return dateValue;
}

/** `HTTP/1.1 <status> `, made once a status. */
const STATUS_STARTS: string[] = [];
function statusStart(status: number): string {
  let start = STATUS_STARTS[status];
  if (start === undefined) {
    start = `HTTP/1.1 ${status} `;
    STATUS_STARTS[status] = start;
  }
  return start;
}

const CLOSE = "connection: close\r\n";
const KEEP_ALIVE = "connection: keep-alive\r\n";
const LENGTH = "content-length: ";

/**
 * The answer's head as it goes to the visitor, as bytes, and how its body follows: a whole body
 * with its length, a sized stream as it is, any other stream chunked; none after HEAD, 1xx, 204
 * and 304, where the backend's Content-Length (the size it would have had) is passed on.
 * `passed` is the backend's head, whose reason and kept fields are copied from its bytes;
 * `fields` are the proxy's own, after them. A whole body of up to `inlineUpTo` bytes comes in
 * the same buffer, after the head (`inlined`), for one write. To an HTTP/1.0 visitor
 * (`http10`) no stream is chunked, and a connection kept says so (`Connection: keep-alive`).
 */
export function answerHead(
  method: string,
  status: number,
  fields: [string, string][],
  passed: ResponseHead | undefined,
  body: AnswerBody,
  close: boolean,
  inlineUpTo = 0,
  now = Date.now(),
  http10 = false,
): { bytes: Uint8Array; framing: Framing; inlined: boolean } {
  // sized first and written in place: no string is concatenated, no runtime call made
  let size = 0;
  let dated = passed?.dated === true;
  for (const [name, value] of fields) {
    if (name === "content-length") continue;
    if (name === "date") dated = true;
    size += fieldSize(name, value);
  }
  const date = dated ? undefined : httpDate(now);
  if (date !== undefined) size += fieldSize("date", date);
  const passedLength = passed?.length;
  let framing: Framing;
  // the Content-Length written: a string (the backend's), a number (ours), or none
  let length: string | number | undefined;
  if (method === "HEAD" || status < 200 || status === 204 || status === 304) {
    if (status !== 204) length = passedLength;
    framing = "none";
  } else if (body === null) {
    length = 0;
    framing = "none";
  } else if (body instanceof Uint8Array) {
    length = body.length;
    framing = "whole";
  } else if (passedLength !== undefined) {
    length = passedLength;
    framing = "sized-stream";
  } else {
    framing = http10 ? "raw-stream" : "chunked-stream";
  }
  const closing = close || framing === "raw-stream";
  // an HTTP/1.0 visitor's connection is kept only when the answer says so
  const keeping = http10 && !closing;
  if (typeof length === "number") size += LENGTH.length + decimalSize(length) + 2;
  else if (length !== undefined) size += LENGTH.length + length.length + 2;
  if (framing === "chunked-stream") size += CHUNKED_LINE.length;
  if (closing) size += CLOSE.length;
  if (keeping) size += KEEP_ALIVE.length;
  size += 2;

  const start = statusStart(status);
  const ownReason = passed === undefined || passed.reasonEnd <= passed.reasonAt;
  const reason = ownReason ? (REASONS[status] ?? "") : "";
  size +=
    start.length +
    (ownReason
      ? reason.length
      : (passed as ResponseHead).reasonEnd - (passed as ResponseHead).reasonAt) +
    2 +
    (passed ? passed.fieldsSize : 0);
  const inlined = framing === "whole" && (body as Uint8Array).length <= inlineUpTo;
  const bytes = new Uint8Array(size + (inlined ? (body as Uint8Array).length : 0));
  let at = writeLatin1(bytes, 0, start);
  at = ownReason ? writeLatin1(bytes, at, reason) : (passed as ResponseHead).writeReason(bytes, at);
  bytes[at++] = 13;
  bytes[at++] = 10;
  if (passed) at = passed.writeFields(bytes, at);
  for (const [name, value] of fields) {
    if (name !== "content-length") at = writeField(bytes, at, name, value);
  }
  if (date !== undefined) at = writeField(bytes, at, "date", date);
  if (length !== undefined) {
    at = writeLatin1(bytes, at, LENGTH);
    at =
      typeof length === "number" ? writeDecimal(bytes, at, length) : writeLatin1(bytes, at, length);
    bytes[at++] = 13;
    bytes[at++] = 10;
  }
  if (framing === "chunked-stream") at = writeLatin1(bytes, at, CHUNKED_LINE);
  if (closing) at = writeLatin1(bytes, at, CLOSE);
  if (keeping) at = writeLatin1(bytes, at, KEEP_ALIVE);
  bytes[at++] = 13;
  bytes[at++] = 10;
  if (inlined) bytes.set(body as Uint8Array, at);
  return { bytes, framing, inlined };
}
