import { expect, test } from "bun:test";
import { bodyBytes } from "../../../server/proxy/forward.ts";
import { isHeadError, parseHead, type ResponseHead } from "../../../server/proxy/upstream/head.ts";

const headOf = (text: string): ResponseHead => {
  const head = parseHead(new TextEncoder().encode(text), "GET");
  if (head === undefined || isHeadError(head)) throw new Error(`not a head: ${text}`);
  return head;
};
const stream = () => new ReadableStream<Uint8Array>();

test("the access log's size: a whole body's, a stream's Content-Length, unknown for a stream without one", () => {
  const sized = headOf("HTTP/1.1 200 OK\r\ncontent-length: 5242880\r\n\r\n");
  const chunked = headOf("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
  expect(bodyBytes({ head: sized, body: new Uint8Array(17) })).toBe(17);
  // over the 4 MiB kept whole: streamed, its length from its head
  expect(bodyBytes({ head: sized, body: stream() })).toBe(5_242_880);
  expect(bodyBytes({ head: chunked, body: stream() })).toBeNull();
  // 204, 304: no body
  expect(bodyBytes({ head: headOf("HTTP/1.1 304 Not Modified\r\n\r\n"), body: null })).toBe(0);
});
