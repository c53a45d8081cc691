import { expect, test } from "bun:test";
import { answerHead } from "../../../../server/proxy/native/answer.ts";

const NOW = Date.UTC(2026, 11, 2, 1, 2, 3);
const lines = (head: string) => head.split("\r\n");

test("a whole body: its own length (the backend's replaced), the fields in order, a Date", () => {
  const { head, framing } = answerHead(
    "GET",
    200,
    "OK",
    [
      ["content-type", "text/plain"],
      ["content-length", "999"],
      ["set-cookie", "a=1"],
      ["set-cookie", "b=2"],
    ],
    new Uint8Array(5),
    false,
    NOW,
  );
  expect(framing).toBe("whole");
  expect(lines(head)).toEqual([
    "HTTP/1.1 200 OK",
    "content-type: text/plain",
    "set-cookie: a=1",
    "set-cookie: b=2",
    "date: Wed, 02 Dec 2026 01:02:03 GMT",
    "content-length: 5",
    "",
    "",
  ]);
});

test("the backend's Date is kept, and no second one is added", () => {
  const { head } = answerHead("GET", 200, "OK", [["date", "x"]], null, false, NOW);
  expect(head.match(/date:/g)?.length).toBe(1);
  expect(head).toContain("date: x\r\n");
});

test("HEAD and 304 keep the size the body would have had, and send none; 204 has no length", () => {
  const head = answerHead("HEAD", 200, "OK", [["content-length", "42"]], null, false, NOW);
  expect(head.framing).toBe("none");
  expect(head.head).toContain("content-length: 42\r\n");
  const notModified = answerHead("GET", 304, "", [["content-length", "42"]], null, false, NOW);
  expect(notModified.framing).toBe("none");
  expect(notModified.head).toContain("content-length: 42\r\n");
  const noContent = answerHead("GET", 204, "", [["content-length", "0"]], null, false, NOW);
  expect(noContent.head).not.toContain("content-length");
});

test("no body on a GET says length 0; a stream with a size keeps it; any other is chunked", () => {
  expect(answerHead("GET", 200, "OK", [], null, false, NOW).head).toContain(
    "content-length: 0\r\n",
  );
  const stream = new ReadableStream<Uint8Array>();
  const sized = answerHead("GET", 200, "OK", [["content-length", "9"]], stream, false, NOW);
  expect(sized.framing).toBe("sized-stream");
  expect(sized.head).toContain("content-length: 9\r\n");
  const chunked = answerHead("GET", 200, "OK", [], stream, false, NOW);
  expect(chunked.framing).toBe("chunked-stream");
  expect(chunked.head).toContain("transfer-encoding: chunked\r\n");
  expect(chunked.head).not.toContain("content-length");
});

test("the proxy's own statuses get their reason; a close is said", () => {
  const { head } = answerHead("GET", 502, "", [], new Uint8Array(1), true, NOW);
  expect(head.startsWith("HTTP/1.1 502 Bad Gateway\r\n")).toBe(true);
  expect(head).toContain("connection: close\r\n");
});
