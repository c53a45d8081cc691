import type { AnswerBody } from "../forward.ts";
import type { ResponseHead } from "../upstream/head.ts";

/** Reasons for the statuses the proxy writes itself (an upstream's own reason is passed on). */
const REASONS: Record<number, string> = {
  200: "OK",
  499: "Client Closed Request",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** How the body follows the head. */
export type Framing = "none" | "whole" | "sized-stream" | "chunked-stream";

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

/**
 * The answer's head as it goes to the visitor, as bytes, and how its body follows: a whole body
 * with its length, a sized stream as it is, any other stream chunked; none after HEAD, 1xx, 204
 * and 304, where the backend's Content-Length (the size it would have had) is passed on.
 * `passed` is the backend's head, whose reason and kept fields are copied from its bytes;
 * `fields` are the proxy's own, after them. A whole body of up to `inlineUpTo` bytes comes in
 * the same buffer, after the head (`inlined`), for one write.
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
): { bytes: Buffer; framing: Framing; inlined: boolean } {
  let tail = "";
  let dated = passed?.dated === true;
  for (const [name, value] of fields) {
    if (name === "content-length") continue;
    if (name === "date") dated = true;
    tail += `${name}: ${value}\r\n`;
  }
  if (!dated) tail += `date: ${httpDate(now)}\r\n`;
  const length = passed?.length;
  let framing: Framing;
  if (method === "HEAD" || status < 200 || status === 204 || status === 304) {
    if (length !== undefined && status !== 204) tail += `content-length: ${length}\r\n`;
    framing = "none";
  } else if (body === null) {
    tail += "content-length: 0\r\n";
    framing = "none";
  } else if (body instanceof Uint8Array) {
    tail += `content-length: ${body.length}\r\n`;
    framing = "whole";
  } else if (length !== undefined) {
    tail += `content-length: ${length}\r\n`;
    framing = "sized-stream";
  } else {
    tail += "transfer-encoding: chunked\r\n";
    framing = "chunked-stream";
  }
  if (close) tail += "connection: close\r\n";
  tail += "\r\n";

  const ownReason = passed === undefined || passed.reasonEnd <= passed.reasonAt;
  const start = ownReason
    ? `${statusStart(status)}${REASONS[status] ?? ""}\r\n`
    : statusStart(status);
  const inlined = framing === "whole" && (body as Uint8Array).length <= inlineUpTo;
  const size =
    start.length +
    (ownReason ? 0 : (passed as ResponseHead).reasonEnd - (passed as ResponseHead).reasonAt + 2) +
    (passed ? passed.fieldsSize : 0) +
    tail.length +
    (inlined ? (body as Uint8Array).length : 0);
  const bytes = Buffer.allocUnsafe(size);
  let at = bytes.write(start, 0, "latin1");
  if (!ownReason) {
    at = (passed as ResponseHead).writeReason(bytes, at);
    bytes[at++] = 13;
    bytes[at++] = 10;
  }
  if (passed) at = passed.writeFields(bytes, at);
  at += bytes.write(tail, at, "latin1");
  if (inlined) bytes.set(body as Uint8Array, at);
  return { bytes, framing, inlined };
}
