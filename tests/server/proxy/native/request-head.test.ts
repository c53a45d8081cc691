import { expect, test } from "bun:test";
import {
  MAX_OWN_BODY,
  MAX_OWN_HEAD,
  readRequestHead,
} from "../../../../server/proxy/native/request-head.ts";

const bytes = (text: string) => Buffer.from(text, "latin1");
const read = (text: string) => readRequestHead(bytes(text));

test("a plain GET is read here: method, target, Host, fields in order, its size", () => {
  const head =
    "GET /a/b?c=1 HTTP/1.1\r\nHost: example.com\r\nX-One:  spaced \t\r\nCookie: a=1\r\n\r\n";
  const result = readRequestHead(bytes(`${head}GET /next`));
  if (result.kind !== "own") throw new Error(`not read here: ${result.kind}`);
  expect(result.method).toBe("GET");
  expect(result.target).toBe("/a/b?c=1");
  expect(result.host).toBe("example.com");
  expect(result.size).toBe(head.length);
  expect(result.close).toBe(false);
  const seen: string[] = [];
  result.fields.forEach((value, name) => {
    seen.push(`${name}=${value}`);
  });
  expect(seen).toEqual(["host=example.com", "x-one=spaced", "cookie=a=1"]);
});

test("repeated fields are joined as Headers.get joins them; an absent one is null", () => {
  const result = read("GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\naccept: b\r\n\r\n");
  if (result.kind !== "own") throw new Error(result.kind);
  expect(result.fields.get("accept")).toBe("a, b");
  expect(result.fields.get("cookie")).toBeNull();
});

test("Connection: close is seen, in any case and among other tokens", () => {
  const result = read("HEAD / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n");
  expect(result.kind === "own" && result.close).toBe(true);
});

test("HTTP/1.0 is read here: its connection is kept only when it asks, with keep-alive", () => {
  const plain = read("GET / HTTP/1.0\r\nHost: h\r\n\r\n");
  expect(plain.kind === "own" && [plain.http10, plain.close]).toEqual([true, true]);
  const kept = read("GET / HTTP/1.0\r\nHost: h\r\nConnection: Keep-Alive\r\n\r\n");
  expect(kept.kind === "own" && [kept.http10, kept.close]).toEqual([true, false]);
  const both = read("GET / HTTP/1.0\r\nHost: h\r\nConnection: keep-alive, close\r\n\r\n");
  expect(both.kind === "own" && both.close).toBe(true);
  const eleven = read("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  expect(eleven.kind === "own" && [eleven.http10, eleven.close]).toEqual([false, false]);
});

test("a head not all there yet asks for more, until it is too big to be read here", () => {
  expect(read("GET / HTTP/1.1\r\nHost: h\r\n").kind).toBe("more");
  expect(read("GET / HTTP/1.1\r\nHost: h\r\n\r").kind).toBe("more");
  const huge = `GET / HTTP/1.1\r\nHost: h\r\nX-Big: ${"a".repeat(MAX_OWN_HEAD)}`;
  expect(read(huge).kind).toBe("pass");
  expect(read(`${huge}\r\n\r\n`).kind).toBe("pass");
});

test("a small body by length is read here: its size after the head, its field kept", () => {
  const head = "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
  const result = readRequestHead(bytes(`${head}abcGET /next`));
  if (result.kind !== "own") throw new Error(`not read here: ${result.kind}`);
  expect([result.method, result.size, result.body]).toEqual(["POST", head.length, 3]);
  expect(result.fields.get("content-length")).toBe("3");
  // the head alone is enough to know it: the body is the front's to wait for
  expect(readRequestHead(bytes(head)).kind).toBe("own");
  for (const method of ["PUT", "PATCH", "DELETE", "OPTIONS"]) {
    const other = read(`${method} /f HTTP/1.1\r\nHost: h\r\ncontent-length:  00012 \r\n\r\n`);
    expect(other.kind === "own" && other.body).toBe(12);
  }
  const empty = read("POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  expect(empty.kind === "own" && empty.body).toBe(0);
  const most = read(`POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: ${MAX_OWN_BODY}\r\n\r\n`);
  expect(most.kind === "own" && most.body).toBe(MAX_OWN_BODY);
  const old = read("POST /f HTTP/1.0\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi");
  expect(old.kind === "own" && [old.http10, old.body]).toEqual([true, 2]);
  const bodiless = read("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  expect(bodiless.kind === "own" && bodiless.body).toBe(0);
});

const passed: [string, string][] = [
  [
    "a body larger than the front reads",
    `POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: ${MAX_OWN_BODY + 1}\r\n\r\n`,
  ],
  ["a length of six digits", "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 000003\r\n\r\nabc"],
  ["a length with a sign", "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc"],
  ["a length in hex", "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 0x3\r\n\r\nabc"],
  ["an empty length", "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n"],
  ["a list of lengths", "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc"],
  [
    "two lengths",
    "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc",
  ],
  [
    "a length and chunked",
    "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
  ],
  [
    "Connection naming the length",
    "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: content-length\r\n\r\nabc",
  ],
  [
    "a length and 100-continue",
    "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
  ],
  ["a zero length on GET", "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"],
  ["a length on HEAD", "HEAD / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"],
  ["a chunked body", "POST /f HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"],
  [
    "an upgrade",
    "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
  ],
  ["Connection: upgrade alone", "GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n"],
  ["100-continue", "PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n"],
  ["HTTP/1.0 without a Host", "GET / HTTP/1.0\r\nAccept: */*\r\n\r\n"],
  ["HTTP/1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n"],
  ["HTTP/2 in a request line", "GET / HTTP/2.0\r\nHost: h\r\n\r\n"],
  ["an absolute-form target", "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n"],
  ["an asterisk target", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"],
  ["the proxy's health path", "GET /_dropship/healthz HTTP/1.1\r\nHost: h\r\n\r\n"],
  ["the seed's flag path", "GET /disable/1 HTTP/1.1\r\nHost: h\r\n\r\n"],
  ["CONNECT", "CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n"],
  ["TRACE", "TRACE / HTTP/1.1\r\nHost: h\r\n\r\n"],
  ["a lower-case method", "get / HTTP/1.1\r\nHost: h\r\n\r\n"],
  ["an unknown method", "BREW / HTTP/1.1\r\nHost: h\r\n\r\n"],
  ["two spaces in the request line", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n"],
  ["a bare LF ending a line", "GET / HTTP/1.1\nHost: h\r\n\r\n"],
  ["bare LFs only, never a CRLF", "GET / HTTP/1.1\nHost: h\n\n"],
  ["a bare LF at the very start", "\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"],
  ["a bare CR in a value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"],
  ["a folded field (obs-fold)", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"],
  ["a space before the colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n"],
  ["an empty field name", "GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n"],
  ["a NUL in a value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\u0000b\r\n\r\n"],
  ["a byte over 127 in a value", "GET / HTTP/1.1\r\nHost: h\r\nX: caf\u00e9\r\n\r\n"],
  ["a byte over 127 in the target", "GET /caf\u00e9 HTTP/1.1\r\nHost: h\r\n\r\n"],
  ["no Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"],
  ["an empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n"],
  ["two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"],
  // names are known by their bytes, in any case
  ["two Host fields in other cases", "GET / HTTP/1.1\r\nHOST: a\r\nhOsT: b\r\n\r\n"],
  ["a length in upper case", "GET / HTTP/1.1\r\nHost: h\r\nCONTENT-LENGTH: 0\r\n\r\n"],
  ["chunked in mixed case", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-ENCODING: chunked\r\n\r\n"],
  ["an upgrade in upper case", "GET / HTTP/1.1\r\nHost: h\r\nUPGRADE: websocket\r\n\r\n"],
  ["Expect in lower case", "PUT / HTTP/1.1\r\nHost: h\r\nexpect: 100-continue\r\n\r\n"],
  ["Connection: UPGRADE", "GET / HTTP/1.1\r\nHost: h\r\nCONNECTION: UPGRADE\r\n\r\n"],
  ["a byte over 127 in a name", "GET / HTTP/1.1\r\nHost: h\r\nX-\u00c4: 1\r\n\r\n"],
  [
    "more than 100 fields",
    `GET / HTTP/1.1\r\nHost: h\r\n${Array.from({ length: 100 }, (_, i) => `X-${i}: v\r\n`).join("")}\r\n`,
  ],
];

for (const [what, text] of passed) {
  test(`${what}: passed on to Bun.serve, not read here`, () => {
    expect(read(text).kind).toBe("pass");
  });
}

test("a name only like a known one is an ordinary field; values are read only when asked", () => {
  const result = read(
    "GET / HTTP/1.1\r\nHost: h\r\nContent-Lengths: 3\r\nX-Host: other\r\nCOOKIE: a=1\r\ncookie: b=2\r\n\r\n",
  );
  if (result.kind !== "own") throw new Error(result.kind);
  expect(result.host).toBe("h");
  expect(result.fields.get("cookie")).toBe("a=1, b=2");
  expect(result.fields.get("content-lengths")).toBe("3");
  expect(result.fields.get("content-length")).toBeNull();
});

test("a search resumed part way finds the same end", () => {
  const text = bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  const whole = readRequestHead(text);
  const resumed = readRequestHead(text, text.length - 3);
  expect(resumed).toEqual(whole);
});
