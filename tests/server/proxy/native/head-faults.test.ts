import { expect, test } from "bun:test";
import { headSizeFault, requestLineFault } from "../../../../server/proxy/native/head-faults.ts";

const bytes = (text: string) => Buffer.from(text, "latin1");
const fault = (line: string) => requestLineFault(bytes(`${line}Host: a.test\r\n\r\n`));

test("a well-formed line of a method Bun.serve reads is no fault, whatever its target's form", () => {
  for (const line of [
    "GET / HTTP/1.1\r\n",
    "POST /form?x=1 HTTP/1.1\r\n",
    "GET / HTTP/1.0\r\n",
    "PURGE /cache HTTP/1.1\r\n",
    "M-SEARCH * HTTP/1.1\r\n",
    "GET http://a.test/abs HTTP/1.1\r\n",
    "CONNECT 10.0.0.1:22 HTTP/1.1\r\n",
    "OPTIONS * HTTP/1.1\r\n",
  ]) {
    expect(fault(line)).toBeUndefined();
  }
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
