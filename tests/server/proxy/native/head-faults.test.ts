import { expect, test } from "bun:test";
import {
  authorityFault,
  fieldFault,
  headSizeFault,
  requestLineFault,
} from "../../../../server/proxy/native/head-faults.ts";

const bytes = (text: string) => Buffer.from(text, "latin1");
const fault = (line: string) => requestLineFault(bytes(`${line}Host: a.test\r\n\r\n`));

test("a well-formed line of a method Bun.serve reads, with a target it routes, is no fault", () => {
  for (const line of [
    "GET / HTTP/1.1\r\n",
    "POST /form?x=1 HTTP/1.1\r\n",
    "GET / HTTP/1.0\r\n",
    "PURGE /cache HTTP/1.1\r\n",
    "GET //a/b HTTP/1.1\r\n",
    "GET http://a.test/abs HTTP/1.1\r\n",
    "GET HTTPS://a.test HTTP/1.1\r\n",
    "OPTIONS http:// HTTP/1.1\r\n",
    // refused after, with 405 and the methods allowed
    "CONNECT 10.0.0.1:22 HTTP/1.1\r\n",
    "CONNECT * HTTP/1.1\r\n",
  ]) {
    expect(fault(line)).toBeUndefined();
  }
});

test("a target Bun.serve would answer with a bare 400, or none, is a 400 that says what to send", () => {
  const notRouted =
    "The request target is neither a path nor an http(s) URL; send a path that starts with /, as in GET /index.html HTTP/1.1.";
  for (const target of [
    "index.html",
    "?a=1",
    "a.test:443",
    "ftp://a.test/",
    "http:/a",
    "#top",
    "**",
  ]) {
    expect(fault(`GET ${target} HTTP/1.1\r\n`)).toEqual({ status: 400, reason: notRouted });
  }
  expect(fault("OPTIONS * HTTP/1.1\r\n")).toEqual({
    status: 400,
    reason:
      "The target * (a question to the server as a whole) is not answered here: this proxy forwards requests for the site's paths; send OPTIONS / HTTP/1.1.",
  });
  expect(fault("M-SEARCH * HTTP/1.1\r\n")?.reason).toEndWith("send M-SEARCH / HTTP/1.1.");
  expect(fault("CONNECT ?x HTTP/1.1\r\n")).toEqual({
    status: 400,
    reason:
      "The CONNECT target is not host:port, and CONNECT is not served here either: this is a reverse proxy for one web app.",
  });
});

test("a line that has not all come yet is not judged", () => {
  expect(requestLineFault(bytes("get / HTTP/1.1"))).toBeUndefined();
  expect(requestLineFault(bytes(""))).toBeUndefined();
});

test("a bare LF, an empty first line, a space too many or too few is a 400 that says the shape", () => {
  const shape = "send <METHOD> <target> HTTP/1.1, one space between each, then CRLF";
  expect(requestLineFault(bytes("GET / HTTP/1.1\nHost: a\n\n"))).toEqual({
    status: 400,
    reason: `The request line ends in a bare LF; ${shape}.`,
  });
  expect(fault("\r\nGET / HTTP/1.1\r\n")?.reason).toBe(
    `The request starts with an empty line; ${shape}.`,
  );
  for (const line of ["GET /a b HTTP/1.1\r\n", "GET\t/ HTTP/1.1\r\n", "GET /\r\n", "GET\r\n"]) {
    expect(fault(line)).toEqual({
      status: 400,
      reason: `The request line is not three parts with one space between each (a space in the target must be sent as %20); ${shape}.`,
    });
  }
  for (const line of ["GET  HTTP/1.1\r\n", " / HTTP/1.1\r\n", "GET / \r\n"]) {
    expect(fault(line)?.reason).toBe(`The request line has an empty part; ${shape}.`);
  }
});

test("a version that is not HTTP/d.d is a 400; one that is, but not 1.0 or 1.1, a 505", () => {
  for (const version of ["http/1.1", "HTTP/1", "HTTP/1.1.1", "HTTP/a.b"]) {
    expect(fault(`GET / ${version}\r\n`)?.status).toBe(400);
  }
  expect(fault("GET / HTTP/2.0\r\n")).toEqual({
    status: 505,
    reason: "HTTP/2.0 is not served here; send HTTP/1.1.",
  });
  // HTTP/2's connection preface, sent without TLS
  expect(fault("PRI * HTTP/2.0\r\n")?.status).toBe(505);
  expect(fault("GET / HTTP/1.2\r\n")?.status).toBe(505);
});

test("an unknown method is a 501 that names it if short, and says methods are case-sensitive", () => {
  expect(fault("get / HTTP/1.1\r\n")).toEqual({
    status: 501,
    reason:
      "The method get is not one this proxy knows; methods are case-sensitive (GET, not get).",
  });
  expect(fault("FOO / HTTP/1.1\r\n")?.reason).toStartWith("The method FOO is not one");
  expect(fault(`${"A".repeat(40)} / HTTP/1.1\r\n`)?.reason).toStartWith(
    "The method is not one this proxy knows",
  );
  expect(fault("G<T / HTTP/1.1\r\n")).toEqual({
    status: 400,
    reason:
      "The method is not a token; send <METHOD> <target> HTTP/1.1, one space between each, then CRLF.",
  });
});

test("a target byte that is not visible ASCII is a 400 that says to percent-encode it", () => {
  for (const target of ["/\xff", "/caf\xe9", "/a\x7f", "/a\x01"]) {
    expect(fault(`GET ${target} HTTP/1.1\r\n`)).toEqual({
      status: 400,
      reason:
        "The request target has a byte that is not visible ASCII; percent-encode it (%FF for the byte 0xFF).",
    });
  }
});

test("a head over 16 KiB, whole or still coming, is a 431 that names the usual cause; 16 KiB is not", () => {
  const head = (size: number) => {
    const start = "GET / HTTP/1.1\r\nHost: a.test\r\nCookie: ";
    return bytes(`${start}${"c".repeat(size - start.length - 4)}\r\n\r\n`);
  };
  expect(head(16_384)).toHaveLength(16_384);
  expect(headSizeFault(head(16_384))).toBeUndefined();
  expect(headSizeFault(head(16_385))).toEqual({
    status: 431,
    reason:
      "The request head (its line and fields together) is over 16 KiB; send a shorter URL or fewer and smaller fields (an oversized Cookie is the usual cause).",
  });
  // no end in the first 16 KiB: it can only be longer
  expect(headSizeFault(head(40_000).subarray(0, 16_384))?.status).toBe(431);
  expect(headSizeFault(head(40_000).subarray(0, 16_383))).toBeUndefined();
  // a small head with a pipelined one behind it is judged by its own size
  const two = Buffer.concat([head(200), head(20_000)]);
  expect(headSizeFault(two)).toBeUndefined();
});

const fields = (text: string, line = "POST / HTTP/1.1") =>
  fieldFault(bytes(`${line}\r\nHost: a.test\r\n${text}\r\n`));

test("fields Bun.serve reads are no fault here either, odd ones included", () => {
  for (const text of [
    "X-A: a\x7fb\r\n",
    "X-A: caf\xe9\r\n",
    "X-A: a\tb\r\n",
    "X-Empty:\r\n",
    "Transfer-Encoding: Chunked \r\n",
    "Content-Length:   02  \r\n",
    "Content-Length: 2\r\nCONTENT-LENGTH: 2\r\n",
    `${"X: b\r\n".repeat(197)}`,
  ]) {
    expect(fields(text)).toBeUndefined();
  }
  // nothing wrong yet, and no end: not judged
  expect(fieldFault(bytes("GET / HTTP/1.1\r\nHost: a.test\r\nX-A: b"))).toBeUndefined();
});

test("each field fault Bun.serve refuses is named, with what to send", () => {
  const reason = (text: string, line?: string) => fields(text, line)?.reason;
  expect(reason("X-A: 1\r\n folded\r\n")).toStartWith("A field line starts with a space or tab");
  expect(reason("X-A b\r\n")).toBe("A field line has no colon; send each field as Name: value.");
  expect(reason(": b\r\n")).toBe("A field line has no name before its colon; send Name: value.");
  for (const text of ["X-A : b\r\n", "X(A): b\r\n", "X\x80A: b\r\n"]) {
    expect(reason(text)).toStartWith("A field name has a byte a name may not have");
  }
  expect(reason("X-A: a\x01b\r\n")).toBe(
    "The value of X-A holds the control byte 0x01; send visible characters, spaces and tabs only.",
  );
  expect(reason(`${"X".repeat(30)}: a\rb\r\n`)).toStartWith(
    "The value of a field holds the control byte 0x0d",
  );
  expect(reason("X-A: b\nX-B: c\r\n")).toBe(
    "A field line ends in a bare LF; end each line of the head with CRLF.",
  );
  expect(fields(`${"X: b\r\n".repeat(198)}`)).toEqual({
    status: 431,
    reason: "The request has more than 198 fields; send fewer.",
  });
});

test("framing Bun.serve refuses is named: both lengths, codings, HTTP/1.0 chunked, lengths", () => {
  const reason = (text: string, line?: string) => fields(text, line)?.reason;
  expect(reason("Content-Length: 2\r\nTransfer-Encoding: chunked\r\n")).toStartWith(
    "The request has both Content-Length and Transfer-Encoding",
  );
  for (const coding of ["gzip, chunked", "chunked, chunked", "identity", ""]) {
    expect(reason(`Transfer-Encoding: ${coding}\r\n`)).toStartWith(
      "Transfer-Encoding is read here as chunked alone",
    );
  }
  expect(reason("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n")).toStartWith(
    "Transfer-Encoding is read here as chunked alone",
  );
  expect(reason("Transfer-Encoding: chunked\r\n", "POST / HTTP/1.0")).toBe(
    "Transfer-Encoding is not defined for HTTP/1.0; send HTTP/1.1, or a Content-Length.",
  );
  for (const length of ["", "-1", "+2", "0x2", "2, 2"]) {
    expect(reason(`Content-Length: ${length}\r\n`)).toBe(
      "Content-Length is not a decimal number; send the body's size in bytes.",
    );
  }
  expect(reason("Content-Length: 2\r\nContent-Length: 02\r\n")).toBe(
    "The request has Content-Length fields that differ; send one.",
  );
});

test("an absolute-form target must name the Host's host; a path, or no single Host, is not judged here", () => {
  const judged = (target: string, ...hosts: string[]) =>
    authorityFault(
      bytes(`GET ${target} HTTP/1.1\r\n${hosts.map((h) => `Host: ${h}\r\n`).join("")}X: y\r\n\r\n`),
    );
  const differ =
    "The request target names another host than the Host field (RFC 9112 §3.2.2 has a server take the target's); send the same host in both, or a path alone.";
  for (const [target, host] of [
    ["http://evil.test/", "shop.test"],
    ["http://shop.test/", "evil.test"],
    ["http://shop.test:8080/", "shop.test"],
    ["http://shop.test/", "shop.test:81"],
    ["https://shop.test:80/", "shop.test"],
    ["http://169.254.169.254/metadata", "shop.test"],
    ["http://shop.test@evil.test/", "shop.test"],
    ["http://", "shop.test"],
  ] as const) {
    expect(judged(target, host)).toEqual({ status: 400, reason: differ });
  }
  for (const [target, host] of [
    ["http://shop.test/a?b", "shop.test"],
    ["HTTP://SHOP.test", "shop.TEST"],
    ["http://shop.test:80/", "shop.test"],
    ["http://shop.test/", "shop.test:80"],
    ["https://shop.test:443/x", "shop.test:"],
    ["http://shop.test:/x", "shop.test"],
    ["http://user:pw@shop.test/x", "shop.test"],
    ["http://[::1]:8080/x", "[::1]:8080"],
    ["http://shop.test?q", "shop.test"],
    ["/path", "evil.test"],
  ] as const) {
    expect(judged(target, host)).toBeUndefined();
  }
  // no Host, or two: the door's own 400s say so
  expect(judged("http://shop.test/")).toBeUndefined();
  expect(judged("http://shop.test/", "shop.test", "evil.test")).toBeUndefined();
});
