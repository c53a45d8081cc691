import { expect, test } from "bun:test";
import { PipelineGate, requestFraming } from "../../../../server/proxy/native/pipeline-gate.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (b: Uint8Array) => new TextDecoder("latin1").decode(b);

const POST = "POST /order HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 3\r\n\r\nabc";
const GET = "GET /b HTTP/1.1\r\nHost: shop.test\r\n\r\n";
const OK = (body: string) => `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`;

test("a request pipelined behind a passed one waits for its answer's last byte, then goes on", () => {
  const gate = new PipelineGate(1 << 16);
  // the POST goes on at once, the GET behind it is held
  expect(text(gate.fromVisitor(bytes(POST + GET)))).toBe(POST);
  expect(gate.full).toBe(false);
  // the answer's head and part of its body: still held
  expect(text(gate.fromInner(bytes("HTTP/1.1 201 Created\r\ncontent-length: 4\r\n\r\nmi")))).toBe(
    "",
  );
  // the last byte: the GET goes on, and the gate waits for its answer in turn
  expect(text(gate.fromInner(bytes("ne")))).toBe(GET);
  expect(text(gate.fromVisitor(bytes(GET)))).toBe("");
  expect(text(gate.fromInner(bytes(OK("b"))))).toBe(GET);
  // nothing in flight: what the visitor sends goes on
  expect(text(gate.fromInner(bytes(OK("b"))))).toBe("");
  expect(text(gate.fromVisitor(bytes("GET /c HTTP/1.1\r\n")))).toBe("GET /c HTTP/1.1\r\n");
  expect(gate.stepsAside).toBe(false);
});

test("heads and bodies split anywhere, chunked both ways, an interim 100 and a HEAD's answer", () => {
  const gate = new PipelineGate(1 << 16);
  const upload =
    "PUT /f HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  const head = "HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n";
  const all = bytes(upload + head + GET);
  let sent = "";
  for (const b of all) sent += text(gate.fromVisitor(new Uint8Array([b])));
  expect(sent).toBe(upload);
  const answer = `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n`;
  let released = "";
  for (const b of bytes(answer)) released += text(gate.fromInner(new Uint8Array([b])));
  expect(released).toBe(head);
  // a HEAD's answer says a length but has no body
  expect(text(gate.fromInner(bytes("HTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\n")))).toBe(GET);
  expect(text(gate.fromInner(bytes("HTTP/1.1 204 No Content\r\n\r\n")))).toBe("");
  expect(gate.stepsAside).toBe(false);
});

test("an answer that comes before the request's body is all in (a refusal) lets the next request by", () => {
  const gate = new PipelineGate(1 << 16);
  const head = "POST /_dropship/x HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\n";
  expect(text(gate.fromVisitor(bytes(`${head}abc`)))).toBe(`${head}abc`);
  expect(text(gate.fromInner(bytes("HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\nno")))).toBe(
    "",
  );
  // the rest of the body and the GET behind it go on at once; the gate waits for the GET's answer
  expect(text(gate.fromVisitor(bytes(`def${GET}${GET}`)))).toBe(`def${GET}`);
  expect(text(gate.fromInner(bytes(OK("b"))))).toBe(GET);
  expect(gate.stepsAside).toBe(false);
});

test("what it cannot follow, it steps aside from for good, sending what it held", () => {
  // an upgrade: the 101 ends HTTP on the connection
  const upgrade = new PipelineGate(1 << 16);
  const ws =
    "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nframe";
  expect(text(upgrade.fromVisitor(bytes(ws)))).toBe(ws);
  expect(upgrade.stepsAside).toBe(true);
  // an answer delimited by its close: what was held goes on at once
  const closing = new PipelineGate(1 << 16);
  expect(text(closing.fromVisitor(bytes(POST + GET)))).toBe(POST);
  expect(text(closing.fromInner(bytes("HTTP/1.1 200 OK\r\n\r\npartial")))).toBe(GET);
  expect(closing.stepsAside).toBe(true);
  expect(text(closing.fromVisitor(bytes(GET)))).toBe(GET);
  // a malformed chunked body: passed on as it is, for Bun.serve to refuse
  const malformed = new PipelineGate(1 << 16);
  const bad = `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n${GET}`;
  expect(text(malformed.fromVisitor(bytes(bad)))).toBe(bad);
  expect(malformed.stepsAside).toBe(true);
  // an answer with bytes after its end (none was asked for): the gate lost its place
  const lost = new PipelineGate(1 << 16);
  expect(text(lost.fromVisitor(bytes(POST + GET)))).toBe(POST);
  expect(text(lost.fromInner(bytes(OK("x") + OK("y"))))).toBe(GET);
  expect(lost.stepsAside).toBe(true);
  // a head past the 16 KiB Bun.serve reads is not gathered further
  const long = new PipelineGate(1 << 16);
  const field = `GET / HTTP/1.1\r\nX-Long: ${"a".repeat(16 * 1024)}`;
  expect(text(long.fromVisitor(bytes(field.slice(0, 8000))))).toBe(field.slice(0, 8000));
  expect(long.stepsAside).toBe(false);
  expect(text(long.fromVisitor(bytes(field.slice(8000))))).toBe(field.slice(8000));
  expect(long.stepsAside).toBe(true);
  // an answer before any request's head is whole
  const early = new PipelineGate(1 << 16);
  expect(text(early.fromVisitor(bytes("GET / HTTP/1.1\r\nHost")))).toBe("GET / HTTP/1.1\r\nHost");
  expect(text(early.fromInner(bytes("HTTP/1.1 400 Bad Request\r\n\r\n")))).toBe("");
  expect(early.stepsAside).toBe(true);
});

test("an answer with an empty body is over with its head: the request behind it goes on", () => {
  const gate = new PipelineGate(1 << 16);
  expect(text(gate.fromVisitor(bytes(POST + GET)))).toBe(POST);
  expect(
    text(
      gate.fromInner(bytes("HTTP/1.1 303 See Other\r\nlocation: /b\r\ncontent-length: 0\r\n\r\n")),
    ),
  ).toBe(GET);
  expect(text(gate.fromInner(bytes(OK("b"))))).toBe("");
  expect(gate.stepsAside).toBe(false);
});

test("it holds up to its limit, then says it is full", () => {
  const gate = new PipelineGate(100);
  expect(text(gate.fromVisitor(bytes(POST + GET)))).toBe(POST);
  expect(gate.full).toBe(false);
  expect(text(gate.fromVisitor(bytes(GET.repeat(3))))).toBe("");
  expect(gate.full).toBe(true);
  // the answer releases the first GET; three more wait, still over the limit
  expect(text(gate.fromInner(bytes(OK("done"))))).toBe(GET);
  expect(gate.full).toBe(true);
  expect(text(gate.fromInner(bytes(OK("b"))))).toBe(GET);
  expect(gate.full).toBe(false);
});

test("only framing it reads as Bun.serve does: one length of digits, chunked alone, or none", () => {
  const head = (fields: string, line = "POST / HTTP/1.1") => bytes(`${line}\r\n${fields}\r\n`);
  expect(requestFraming(head("Host: a\r\n"))).toEqual({ method: "POST", body: 0 });
  expect(requestFraming(head("Host: a\r\nContent-Length: 12\r\n"))).toEqual({
    method: "POST",
    body: 12,
  });
  expect(requestFraming(head("Host: a\r\ntransfer-encoding: Chunked\r\n"))).toEqual({
    method: "POST",
    body: "chunked",
  });
  for (const odd of [
    head("Content-Length: 1\r\nContent-Length: 1\r\n"),
    head("Content-Length: +1\r\n"),
    head("Content-Length: 1, 1\r\n"),
    head("Transfer-Encoding: gzip, chunked\r\n"),
    head("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n"),
    head("Upgrade: h2c\r\nConnection: Upgrade\r\n"),
    head("Host: a\r\n", "CONNECT a.test:443 HTTP/1.1"),
    head("Host: a\r\n", "GET / HTTP/1.0"),
    head(" folded\r\n"),
  ]) {
    expect(requestFraming(odd)).toBeUndefined();
  }
});

/** A gate whose front owns GETs, as the own front owns bodiless requests. */
const owning = () =>
  new PipelineGate(
    1 << 16,
    (head) => text(head).startsWith("GET ") && !text(head).includes("X-No"),
  );

test("once the answers are over, a request the front owns is handed back with all after it, gathered whole first", () => {
  const gate = new PipelineGate(1 << 16, (head) => text(head).startsWith("GET "));
  // the first request goes on whatever it is: the front passed it
  const first = new PipelineGate(1 << 16, () => true);
  expect(text(first.fromVisitor(bytes(GET)))).toBe(GET);
  expect(first.back).toBeUndefined();
  // a GET behind a POST waits for the POST's answer, then comes back with the POST behind it
  expect(text(gate.fromVisitor(bytes(POST + GET + POST)))).toBe(POST);
  expect(text(gate.fromInner(bytes(OK("done"))))).toBe("");
  expect(text(gate.back ?? new Uint8Array())).toBe(GET + POST);
  // handed back, it takes nothing more either way
  expect(text(gate.fromVisitor(bytes(GET)))).toBe("");
  expect(text(gate.fromInner(bytes(OK("x"))))).toBe("");
  expect(gate.stepsAside).toBe(false);
  // a head that comes a byte at a time is gathered whole before it is known whose it is
  const split = owning();
  expect(text(split.fromVisitor(bytes(POST)))).toBe(POST);
  expect(text(split.fromInner(bytes(OK("done"))))).toBe("");
  let sent = "";
  for (const b of bytes(GET)) sent += text(split.fromVisitor(new Uint8Array([b])));
  expect(sent).toBe("");
  expect(text(split.back ?? new Uint8Array())).toBe(GET);
});

test("a request the front does not own at a boundary goes on whole, and the gate reads it as any other", () => {
  const gate = owning();
  expect(text(gate.fromVisitor(bytes(POST)))).toBe(POST);
  expect(text(gate.fromInner(bytes(OK("done"))))).toBe("");
  const notOwned = "GET /n HTTP/1.1\r\nHost: a\r\nX-No: 1\r\n\r\n";
  // its head in two pieces: nothing goes on until it is whole, then all of it
  expect(text(gate.fromVisitor(bytes(notOwned.slice(0, 10))))).toBe("");
  expect(text(gate.fromVisitor(bytes(notOwned.slice(10) + POST)))).toBe(notOwned);
  expect(gate.back).toBeUndefined();
  // the POST behind it waits for its answer, as before
  expect(text(gate.fromInner(bytes(OK("n"))))).toBe(POST);
  expect(text(gate.fromInner(bytes(OK("p"))))).toBe("");
  // answered before its body is all in: the request after the body is at a boundary too
  const early = owning();
  const head = "POST /_dropship/x HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\n";
  expect(text(early.fromVisitor(bytes(`${head}abc`)))).toBe(`${head}abc`);
  expect(
    text(early.fromInner(bytes("HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\nno"))),
  ).toBe("");
  expect(text(early.fromVisitor(bytes(`def${GET}`)))).toBe("def");
  expect(text(early.back ?? new Uint8Array())).toBe(GET);
});

test("after an answer that closes the connection nothing is handed back; a head being gathered goes on if the gate steps aside; reopened, it starts afresh", () => {
  const closing = owning();
  expect(text(closing.fromVisitor(bytes(POST + GET)))).toBe(POST);
  expect(
    text(
      closing.fromInner(
        bytes("HTTP/1.1 413 Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"),
      ),
    ),
  ).toBe(GET);
  expect(closing.back).toBeUndefined();
  // bytes from Bun.serve while a head is gathered: the gate lost its place, and the head goes on
  const lost = owning();
  expect(text(lost.fromVisitor(bytes(POST)))).toBe(POST);
  expect(text(lost.fromInner(bytes(OK("done"))))).toBe("");
  expect(text(lost.fromVisitor(bytes("GET /x HT")))).toBe("");
  expect(text(lost.fromInner(bytes("HTTP/1.1 408 Request Timeout\r\n\r\n")))).toBe("GET /x HT");
  expect(lost.stepsAside).toBe(true);
  // reopened after it handed a GET back: the next request goes on, whatever it is
  const gate = owning();
  gate.fromVisitor(bytes(POST));
  gate.fromInner(bytes(OK("done")));
  gate.fromVisitor(bytes(GET));
  expect(gate.back).toBeDefined();
  gate.reopen();
  expect(gate.back).toBeUndefined();
  expect(text(gate.fromVisitor(bytes(POST + GET)))).toBe(POST);
  expect(text(gate.fromInner(bytes(OK("again"))))).toBe("");
  expect(text(gate.back ?? new Uint8Array())).toBe(GET);
});
