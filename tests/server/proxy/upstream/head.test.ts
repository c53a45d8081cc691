import { expect, test } from "bun:test";
import { isHeadError, MAX_HEAD_BYTES, parseHead } from "../../../../server/proxy/upstream/head.ts";

const bytes = (text: string) => Buffer.from(text, "latin1");
const parse = (text: string, method = "GET") => parseHead(bytes(text), method);

test("a plain answer: status, reason, fields in order, sized body, reusable", () => {
  const head = parse(
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 5\r\n\r\nhello",
  );
  if (!head || isHeadError(head)) throw new Error(JSON.stringify(head));
  expect(head.status).toBe(200);
  expect(head.reason).toBe("OK");
  expect(head.fields).toEqual([
    ["content-type", "text/plain"],
    ["set-cookie", "a=1"],
    ["set-cookie", "b=2"],
    ["content-length", "5"],
  ]);
  expect(head.framing).toEqual({ kind: "length", length: 5 });
  expect(head.reusable).toBe(true);
  expect(head.size).toBe(
    bytes(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 5\r\n\r\n",
    ).length,
  );
});

test("an incomplete head waits for more bytes", () => {
  expect(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n")).toBeUndefined();
});

test("hop-by-hop fields and those Connection names are left out; close ends reuse", () => {
  const head = parse(
    "HTTP/1.1 200 OK\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nX-Kept: yes\r\nContent-Length: 0\r\n\r\n",
  );
  if (!head || isHeadError(head)) throw new Error(JSON.stringify(head));
  expect(head.fields).toEqual([
    ["x-kept", "yes"],
    ["content-length", "0"],
  ]);
  expect(head.reusable).toBe(false);
});

test("framing: chunked, close-delimited, and bodiless answers whatever they claim", () => {
  const framing = (text: string, method = "GET") => {
    const head = parse(text, method);
    if (!head || isHeadError(head)) throw new Error(JSON.stringify(head));
    return [head.framing.kind, head.reusable];
  };
  expect(framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")).toEqual([
    "chunked",
    true,
  ]);
  expect(framing("HTTP/1.1 200 OK\r\n\r\n")).toEqual(["close", false]);
  expect(framing("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", "HEAD")).toEqual(["none", true]);
  expect(framing("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n")).toEqual(["none", true]);
  expect(framing("HTTP/1.1 204 No Content\r\n\r\n")).toEqual(["none", true]);
  expect(framing("HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n")).toEqual(["none", true]);
  expect(framing("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n")).toEqual(["length", false]);
});

test("repeated Content-Length fields that agree are one length", () => {
  const head = parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\n");
  if (!head || isHeadError(head)) throw new Error(JSON.stringify(head));
  expect(head.framing).toEqual({ kind: "length", length: 3 });
  expect(head.fields).toEqual([["content-length", "3"]]);
});

const malformed: [string, string, RegExp][] = [
  [
    "both framings (smuggling)",
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    /both/,
  ],
  [
    "two lengths",
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
    /not one number/,
  ],
  ["a signed length", "HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\n", /not one number/],
  ["a length in hex", "HTTP/1.1 200 OK\r\nContent-Length: 0x3\r\n\r\n", /not one number/],
  [
    "a coding other than chunked",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    /not chunked/,
  ],
  [
    "two Transfer-Encoding fields",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    /two Transfer-Encoding/,
  ],
  ["a space before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\n", /not a token/],
  ["a folded field", "HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\n\r\n", /obs-fold/],
  ["a bare LF inside", "HTTP/1.1 200 OK\nX-A: 1\r\n\r\n", /CRLF/],
  ["a bare CR in a value", "HTTP/1.1 200 OK\r\nX-A: 1\r2\r\n\r\n", /CRLF|control/],
  ["a NUL in a value", "HTTP/1.1 200 OK\r\nX-A: 1\u00002\r\n\r\n", /control/],
  ["HTTP/2 on the status line", "HTTP/2 200 OK\r\n\r\n", /status line/],
  ["a two-digit status", "HTTP/1.1 20 OK\r\n\r\n", /status line/],
  ["a status of 600", "HTTP/1.1 600 Odd\r\n\r\n", /status line/],
  ["not HTTP at all", "SSH-2.0-OpenSSH_9.2\r\n\r\n", /status line/],
  [
    "a switch of protocols nobody asked for",
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
    /switches protocols/,
  ],
  ["a field line with no name", "HTTP/1.1 200 OK\r\n: value\r\n\r\n", /not a token/],
];

for (const [name, text, reason] of malformed) {
  test(`malformed: ${name}`, () => {
    const head = parse(text);
    expect(isHeadError(head)).toBe(true);
    expect((head as { error: string }).error).toMatch(reason);
  });
}

test("a head larger than 64 KiB is refused, complete or not", () => {
  const big = `HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(MAX_HEAD_BYTES)}`;
  expect(isHeadError(parse(big))).toBe(true);
  expect(isHeadError(parse(`${big}\r\n\r\n`))).toBe(true);
});

test("Latin-1 bytes in a value arrive as they were sent", () => {
  const head = parse("HTTP/1.1 200 OK\r\nX-Name: caf\u00e9\r\nContent-Length: 0\r\n\r\n");
  if (!head || isHeadError(head)) throw new Error(JSON.stringify(head));
  expect(head.fields[0]).toEqual(["x-name", "caf\u00e9"]);
});

test("the proxy's own names from a backend are left out; the proxy sets them itself", () => {
  const head = parse(
    "HTTP/1.1 200 OK\r\nX-Request-Id: forged\r\nx-dropship-track: forged\r\nX-DROPSHIP-BACKEND: forged\r\nX-Dropship-Tracks: kept\r\nContent-Length: 0\r\n\r\n",
  );
  if (!head || isHeadError(head)) throw new Error(JSON.stringify(head));
  expect(head.fields).toEqual([
    ["x-dropship-tracks", "kept"],
    ["content-length", "0"],
  ]);
});

test("names are passed on in lower case, values without their surrounding spaces", () => {
  const head = parse("HTTP/1.1 200 OK\r\nX-Mixed-CASE:\t  a  b \t\r\nX-Empty:\r\n\r\n");
  if (!head || isHeadError(head)) throw new Error(JSON.stringify(head));
  expect(head.fields).toEqual([
    ["x-mixed-case", "a  b"],
    ["x-empty", ""],
  ]);
  const out = new Uint8Array(head.fieldsSize);
  expect(head.writeFields(out, 0)).toBe(out.length);
  expect(Buffer.from(out).toString("latin1")).toBe("x-mixed-case: a  b\r\nx-empty: \r\n");
});

test("a Date is noted, unless Connection names it (then it was for this hop only)", () => {
  const dated = parse("HTTP/1.1 200 OK\r\nDate: Wed, 02 Dec 2026 01:02:03 GMT\r\n\r\n");
  if (!dated || isHeadError(dated)) throw new Error(JSON.stringify(dated));
  expect(dated.dated).toBe(true);
  const hop = parse("HTTP/1.1 200 OK\r\nConnection: Date\r\nDate: x\r\nX-A: 1\r\n\r\n");
  if (!hop || isHeadError(hop)) throw new Error(JSON.stringify(hop));
  expect(hop.dated).toBe(false);
  expect(hop.fields).toEqual([["x-a", "1"]]);
});

test("the reason phrase and a Content-Length are read only when asked, from the head's bytes", () => {
  const head = parse("HTTP/1.1 299 Quite All Right\r\nContent-Length: 0012\r\n\r\n", "HEAD");
  if (!head || isHeadError(head)) throw new Error(JSON.stringify(head));
  expect(head.reason).toBe("Quite All Right");
  expect(head.length).toBe("0012");
  const listed = parse("HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n");
  if (!listed || isHeadError(listed)) throw new Error(JSON.stringify(listed));
  expect(listed.length).toBe("7");
  expect(listed.framing).toEqual({ kind: "length", length: 7 });
});

test("a length of more than 15 digits, or an empty one, is not one number", () => {
  expect(isHeadError(parse("HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456\r\n\r\n"))).toBe(
    true,
  );
  expect(isHeadError(parse("HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n"))).toBe(true);
  expect(isHeadError(parse("HTTP/1.1 200 OK\r\nContent-Length: 5 5\r\n\r\n"))).toBe(true);
});

test("a coding other than chunked is refused whatever the case; chunked in any case is read", () => {
  const upper = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n");
  if (!upper || isHeadError(upper)) throw new Error(JSON.stringify(upper));
  expect(upper.framing).toEqual({ kind: "chunked" });
  const gzip = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: GZIP\r\n\r\n");
  expect((gzip as { error: string }).error).toBe('its Transfer-Encoding "gzip" is not chunked');
});

test("a field named by Connection goes, even one called Close; keep-alive names nothing kept", () => {
  const head = parse("HTTP/1.1 200 OK\r\nConnection: close\r\nClose: x\r\nX-A: 1\r\n\r\n");
  if (!head || isHeadError(head)) throw new Error(JSON.stringify(head));
  expect(head.fields).toEqual([["x-a", "1"]]);
  expect(head.reusable).toBe(false);
  const kept = parse(
    "HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n",
  );
  if (!kept || isHeadError(kept)) throw new Error(JSON.stringify(kept));
  expect(kept.fields).toEqual([
    ["x-a", "1"],
    ["content-length", "0"],
  ]);
  expect(kept.reusable).toBe(true);
});
