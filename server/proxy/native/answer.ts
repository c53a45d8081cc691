import type { AnswerBody } from "../forward.ts";

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

/**
 * The answer's head as it goes to the visitor, and how its body follows: a whole body with its
 * length, a sized stream as it is, any other stream chunked; none after HEAD, 1xx, 204 and 304,
 * where the backend's Content-Length (the size it would have had) is passed on.
 */
export function answerHead(
  method: string,
  status: number,
  reason: string,
  fields: [string, string][],
  body: AnswerBody,
  close: boolean,
  now = Date.now(),
): { head: string; framing: Framing } {
  let head = `HTTP/1.1 ${status} ${reason || REASONS[status] || ""}\r\n`;
  let length: string | undefined;
  let dated = false;
  for (const [name, value] of fields) {
    if (name === "content-length") {
      length = value;
      continue;
    }
    if (name === "date") dated = true;
    head += `${name}: ${value}\r\n`;
  }
  if (!dated) head += `date: ${httpDate(now)}\r\n`;
  let framing: Framing;
  if (method === "HEAD" || status < 200 || status === 204 || status === 304) {
    if (length !== undefined && status !== 204) head += `content-length: ${length}\r\n`;
    framing = "none";
  } else if (body === null) {
    head += "content-length: 0\r\n";
    framing = "none";
  } else if (body instanceof Uint8Array) {
    head += `content-length: ${body.length}\r\n`;
    framing = "whole";
  } else if (length !== undefined) {
    head += `content-length: ${length}\r\n`;
    framing = "sized-stream";
  } else {
    head += "transfer-encoding: chunked\r\n";
    framing = "chunked-stream";
  }
  if (close) head += "connection: close\r\n";
  return { head: `${head}\r\n`, framing };
}
