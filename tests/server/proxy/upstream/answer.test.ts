import { expect, test } from "bun:test";
import { AnswerReader, type UpstreamAnswer } from "../../../../server/proxy/upstream/answer.ts";

function reader(method = "GET") {
  const seen = {
    answers: [] as UpstreamAnswer[],
    faults: [] as string[],
    finished: [] as boolean[],
    paused: 0,
    resumed: 0,
    destroyed: 0,
  };
  const r = new AnswerReader(
    method,
    { pause: () => seen.paused++, resume: () => seen.resumed++, destroy: () => seen.destroyed++ },
    {
      answer: (a) => seen.answers.push(a),
      fault: (reason) => seen.faults.push(reason),
      finished: (reusable) => seen.finished.push(reusable),
    },
  );
  return { r, seen };
}
const bytes = (text: string) => Buffer.from(text, "latin1");

test("a sized body in pieces is handed over whole, once all of it is in", () => {
  const { r, seen } = reader();
  r.feed(bytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234"));
  expect(seen.answers).toEqual([]);
  r.feed(bytes("56789"));
  expect(Buffer.from(seen.answers[0]?.body as Uint8Array).toString()).toBe("0123456789");
  expect(seen.finished).toEqual([true]);
});

test("a body over 4 MiB streams, the connection paused while the reader lags", async () => {
  const { r, seen } = reader();
  const size = 5 * 1024 * 1024;
  r.feed(bytes(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`));
  const body = seen.answers[0]?.body as ReadableStream<Uint8Array>;
  expect(body).toBeInstanceOf(ReadableStream);
  const stream = body.getReader();
  const piece = new Uint8Array(64 * 1024).fill(7);
  // a socket: it delivers while not paused; the visitor reads only while it is
  let sent = 0;
  let received = 0;
  let mostQueued = 0;
  while (received < size) {
    if (seen.paused > seen.resumed || sent === size) {
      const { value } = await stream.read();
      received += value?.length ?? 0;
    } else {
      r.feed(piece);
      sent += piece.length;
      mostQueued = Math.max(mostQueued, sent - received);
    }
  }
  expect(seen.paused).toBeGreaterThan(0);
  expect(seen.resumed).toBeGreaterThan(0);
  // never much more than the stream's high-water mark (256 KiB) held in memory
  expect(mostQueued).toBeLessThanOrEqual(320 * 1024);
  expect(seen.finished).toEqual([true]);
});

test("a connection that ends mid-body errors the stream, and a visitor who stops reading frees it", async () => {
  const cut = reader();
  cut.r.feed(bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"));
  cut.r.end("the backend closed the connection");
  const stream = cut.seen.answers[0]?.body as ReadableStream<Uint8Array>;
  await expect(new Response(stream).text()).rejects.toThrow("cut short");
  expect(cut.seen.finished).toEqual([false]);

  const left = reader();
  left.r.feed(bytes("HTTP/1.1 200 OK\r\n\r\nclose-delimited"));
  const body = left.seen.answers[0]?.body as ReadableStream<Uint8Array>;
  await body.cancel();
  expect(left.seen.destroyed).toBe(1);
  expect(left.seen.finished).toEqual([false]);
});

test("an answer that never finished its head is a fault, not an answer", () => {
  const { r, seen } = reader();
  r.feed(bytes("HTTP/1.1 200 OK\r\nContent-Le"));
  r.end("the backend closed the connection");
  expect(seen.answers).toEqual([]);
  expect(seen.faults).toEqual(["the backend closed the connection"]);
});
