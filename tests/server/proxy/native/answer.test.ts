import { expect, test } from "bun:test";
import { answerHead } from "../../../../server/proxy/native/answer.ts";
import {
  isHeadError,
  parseHead,
  type ResponseHead,
} from "../../../../server/proxy/upstream/head.ts";

const NOW = Date.UTC(2026, 11, 2, 1, 2, 3);
const lines = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1").split("\r\n");

/** A backend's head, as the upstream client hands it over. */
function backend(text: string, method = "GET"): ResponseHead {
  const head = parseHead(Buffer.from(text, "latin1"), method);
  if (!head || isHeadError(head)) throw new Error(JSON.stringify(head));
  return head;
}

/** The head alone, as text. */
function headText(...args: Parameters<typeof answerHead>): string {
  return Buffer.from(answerHead(...args).bytes).toString("latin1");
}

test("a whole body: its own length (the backend's replaced), the fields in order, a Date", () => {
  const passed = backend(
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 999\r\nSet-Cookie: a=1\r\nSET-COOKIE:b=2  \r\n\r\n",
  );
  const { bytes, framing, inlined } = answerHead(
    "GET",
    200,
    [["x-request-id", "r1"]],
    passed,
    new Uint8Array(5),
    false,
    0,
    NOW,
  );
  expect(framing).toBe("whole");
  expect(inlined).toBe(false);
  expect(lines(bytes)).toEqual([
    "HTTP/1.1 200 OK",
    "content-type: text/plain",
    "set-cookie: a=1",
    "set-cookie: b=2",
    "x-request-id: r1",
    "date: Wed, 02 Dec 2026 01:02:03 GMT",
    "content-length: 5",
    "",
    "",
  ]);
});

test("a small whole body comes in the same buffer, after the head", () => {
  const body = Buffer.from("hello");
  const { bytes, inlined } = answerHead("GET", 200, [], undefined, body, false, 64, NOW);
  expect(inlined).toBe(true);
  expect(Buffer.from(bytes).toString("latin1")).toBe(
    "HTTP/1.1 200 OK\r\ndate: Wed, 02 Dec 2026 01:02:03 GMT\r\ncontent-length: 5\r\n\r\nhello",
  );
  expect(answerHead("GET", 200, [], undefined, body, false, 4, NOW).inlined).toBe(false);
});

test("the backend's reason phrase and Latin-1 bytes go on as they came", () => {
  const passed = backend("HTTP/1.1 404 Nicht Gefunden\r\nX-Name: caf\u00e9\r\n\r\n");
  const head = headText("GET", 404, [], passed, new Uint8Array(0), false, 0, NOW);
  expect(head.startsWith("HTTP/1.1 404 Nicht Gefunden\r\nx-name: caf\u00e9\r\n")).toBe(true);
  const reasonless = backend("HTTP/1.1 200\r\n\r\n");
  expect(headText("GET", 200, [], reasonless, null, false, 0, NOW)).toStartWith(
    "HTTP/1.1 200 OK\r\n",
  );
});

test("the backend's Date is kept, and no second one is added", () => {
  const passed = backend("HTTP/1.1 200 OK\r\nDate: x\r\n\r\n");
  const head = headText("GET", 200, [], passed, null, false, 0, NOW);
  expect(head.match(/date:/g)?.length).toBe(1);
  expect(head).toContain("date: x\r\n");
});

test("HEAD and 304 keep the size the body would have had, and send none; 204 has no length", () => {
  const head = answerHead(
    "HEAD",
    200,
    [],
    backend("HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", "HEAD"),
    null,
    false,
    0,
    NOW,
  );
  expect(head.framing).toBe("none");
  expect(lines(head.bytes)).toContain("content-length: 42");
  const notModified = answerHead(
    "GET",
    304,
    [],
    backend("HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\n\r\n"),
    null,
    false,
    0,
    NOW,
  );
  expect(notModified.framing).toBe("none");
  expect(lines(notModified.bytes)).toContain("content-length: 42");
  const noContent = headText(
    "GET",
    204,
    [],
    backend("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"),
    null,
    false,
    0,
    NOW,
  );
  expect(noContent).not.toContain("content-length");
});

test("no body on a GET says length 0; a stream with a size keeps it; any other is chunked", () => {
  expect(headText("GET", 200, [], undefined, null, false, 0, NOW)).toContain(
    "content-length: 0\r\n",
  );
  const stream = new ReadableStream<Uint8Array>();
  const sized = answerHead(
    "GET",
    200,
    [],
    backend("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"),
    stream,
    false,
    0,
    NOW,
  );
  expect(sized.framing).toBe("sized-stream");
  expect(lines(sized.bytes)).toContain("content-length: 9");
  const chunked = answerHead(
    "GET",
    200,
    [],
    backend("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
    stream,
    false,
    0,
    NOW,
  );
  expect(chunked.framing).toBe("chunked-stream");
  const text = Buffer.from(chunked.bytes).toString("latin1");
  expect(text).toContain("transfer-encoding: chunked\r\n");
  expect(text).not.toContain("content-length");
});

test("to HTTP/1.0 no stream is chunked: it goes as it comes, and the connection closes; a kept connection says keep-alive", () => {
  const stream = new ReadableStream<Uint8Array>();
  const unsized = backend("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  const raw = answerHead("GET", 200, [], unsized, stream, false, 0, NOW, true);
  expect(raw.framing).toBe("raw-stream");
  const rawText = Buffer.from(raw.bytes).toString("latin1");
  expect(rawText).not.toContain("transfer-encoding");
  expect(rawText).not.toContain("content-length");
  expect(rawText).toContain("connection: close\r\n");
  expect(rawText).not.toContain("keep-alive");
  const kept = headText("GET", 200, [], undefined, new Uint8Array(3), false, 0, NOW, true);
  expect(kept).toContain("content-length: 3\r\n");
  expect(kept).toContain("connection: keep-alive\r\n");
  expect(kept).not.toContain("connection: close");
  const closed = headText("GET", 200, [], undefined, new Uint8Array(3), true, 0, NOW, true);
  expect(closed).toContain("connection: close\r\n");
  expect(closed).not.toContain("keep-alive");
  // to HTTP/1.1 a kept connection says nothing of it
  expect(headText("GET", 200, [], undefined, new Uint8Array(3), false, 0, NOW)).not.toContain(
    "connection:",
  );
});

test("the proxy's own statuses get their reason; a close is said", () => {
  const head = headText("GET", 502, [], undefined, new Uint8Array(1), true, 0, NOW);
  expect(head.startsWith("HTTP/1.1 502 Bad Gateway\r\n")).toBe(true);
  expect(head).toContain("connection: close\r\n");
});
