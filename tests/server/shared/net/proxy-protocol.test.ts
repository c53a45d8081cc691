import { expect, test } from "bun:test";
import { ipv6Text, readProxyHeader } from "../../../../server/shared/net/proxy-protocol.ts";

const text = (s: string) => new TextEncoder().encode(s);
const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
/** A v2 header: version/command, family, and the bytes after the length. */
const v2 = (command: number, family: number, body: number[]) =>
  new Uint8Array([...SIGNATURE, command, family, body.length >> 8, body.length & 0xff, ...body]);
const REQUEST = "GET / HTTP/1.1\r\nHost: shop\r\n\r\n";

test("v1: the visitor's address, and where the request starts", () => {
  const line = "PROXY TCP4 203.0.113.9 10.0.0.5 51234 443\r\n";
  expect(readProxyHeader(text(line + REQUEST))).toEqual({
    kind: "header",
    length: line.length,
    source: "203.0.113.9",
  });
  expect(readProxyHeader(text("PROXY TCP6 2001:db8::7 2001:db8::1 5000 80\r\n"))).toMatchObject({
    source: "2001:db8::7",
  });
  // UNKNOWN: the load balancer could not say; the rest of the line is ignored
  expect(readProxyHeader(text("PROXY UNKNOWN ffff::1 ::1 1 2\r\nGET"))).toEqual({
    kind: "header",
    length: 31,
    source: undefined,
  });
});

test("no header: a request, or TLS, from whoever connected", () => {
  expect(readProxyHeader(text(REQUEST))).toEqual({ kind: "none" });
  expect(readProxyHeader(new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00]))).toEqual({
    kind: "none",
  });
  // a method that starts like the header parts ways with it at its fourth byte
  expect(readProxyHeader(text("PROPFIND / HTTP/1.1\r\n"))).toEqual({ kind: "none" });
});

test("a header still arriving waits for more bytes, in either version", () => {
  for (const part of ["P", "PROX", "PROXY ", "PROXY TCP4 203.0.113.9 10.0.0.5 51"])
    expect(readProxyHeader(text(part))).toEqual({ kind: "more" });
  const whole = v2(0x21, 0x11, [203, 0, 113, 9, 10, 0, 0, 5, 0xc8, 0x22, 0x01, 0xbb]);
  for (const n of [1, 12, 15, 20]) expect(readProxyHeader(whole.subarray(0, n)).kind).toBe("more");
  expect(readProxyHeader(whole)).toEqual({ kind: "header", length: 28, source: "203.0.113.9" });
});

test("v2: IPv4, IPv6 and TLVs after the addresses; LOCAL and unspecified name no one", () => {
  const six = [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 7];
  const tlv = [0x01, 0x00, 0x02, 0x68, 0x32];
  const withTlv = v2(0x21, 0x21, [...six, ...Array(16).fill(0), 0, 80, 1, 187, ...tlv]);
  expect(readProxyHeader(withTlv)).toEqual({
    kind: "header",
    length: 16 + 36 + tlv.length,
    source: "2001:db8::7",
  });
  expect(readProxyHeader(v2(0x20, 0x00, []))).toEqual({
    kind: "header",
    length: 16,
    source: undefined,
  });
  expect(readProxyHeader(v2(0x21, 0x00, []))).toMatchObject({ source: undefined });
});

const malformed: [string, Uint8Array][] = [
  ["v1 without CRLF", text("PROXY TCP4 203.0.113.9 10.0.0.5 1 2\n")],
  ["v1 longer than 107 bytes", text(`PROXY UNKNOWN ${"x".repeat(100)}\r\n`)],
  ["v1 endless", text(`PROXY TCP4 ${"1".repeat(120)}`)],
  ["v1 unknown family", text("PROXY UDP4 203.0.113.9 10.0.0.5 1 2\r\n")],
  ["v1 missing fields", text("PROXY TCP4 203.0.113.9 10.0.0.5 1\r\n")],
  ["v1 bad address", text("PROXY TCP4 999.0.113.9 10.0.0.5 1 2\r\n")],
  ["v1 IPv6 as TCP4", text("PROXY TCP4 2001:db8::7 10.0.0.5 1 2\r\n")],
  ["v1 IPv4 as TCP6", text("PROXY TCP6 203.0.113.9 ::1 1 2\r\n")],
  ["v1 port too large", text("PROXY TCP4 203.0.113.9 10.0.0.5 65536 2\r\n")],
  ["v1 port with a sign", text("PROXY TCP4 203.0.113.9 10.0.0.5 +80 2\r\n")],
  ["v1 double space", text("PROXY TCP4  203.0.113.9 10.0.0.5 1 2\r\n")],
  ["v2 version 1", v2(0x11, 0x11, Array(12).fill(0))],
  ["v2 unknown command", v2(0x22, 0x11, Array(12).fill(0))],
  ["v2 UDP", v2(0x21, 0x12, Array(12).fill(0))],
  ["v2 IPv4 too short", v2(0x21, 0x11, Array(8).fill(0))],
  ["v2 IPv6 too short", v2(0x21, 0x21, Array(20).fill(0))],
  ["v2 huge length", new Uint8Array([...SIGNATURE, 0x21, 0x11, 0xff, 0xff])],
];
for (const [name, bytes] of malformed) {
  test(`malformed: ${name}`, () => {
    expect(readProxyHeader(bytes).kind).toBe("malformed");
  });
}

test("IPv6 text is the short form", () => {
  const bytes = (words: number[]) => new Uint8Array(words.flatMap((w) => [w >> 8, w & 0xff]));
  expect(ipv6Text(bytes([0x2001, 0xdb8, 0, 0, 0, 0, 0, 7]))).toBe("2001:db8::7");
  expect(ipv6Text(bytes([0, 0, 0, 0, 0, 0, 0, 1]))).toBe("::1");
  expect(ipv6Text(bytes([0, 0, 0, 0, 0, 0, 0, 0]))).toBe("::");
  expect(ipv6Text(bytes([1, 0, 2, 0, 0, 3, 0, 4]))).toBe("1:0:2::3:0:4");
  expect(ipv6Text(bytes([1, 2, 3, 4, 5, 6, 7, 8]))).toBe("1:2:3:4:5:6:7:8");
});
