import { expect, test } from "bun:test";
import { ChunkedDecoder } from "../../../../server/proxy/upstream/chunked.ts";

const bytes = (text: string) => Buffer.from(text, "latin1");
const text = (chunks: Uint8Array[]) =>
  chunks.map((c) => Buffer.from(c).toString("latin1")).join("");

test("a whole body in one piece, with extensions and trailers, and what follows it", () => {
  const decoder = new ChunkedDecoder();
  const out = decoder.feed(
    bytes("5;name=val\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT"),
  );
  expect(text(out.chunks)).toBe("hello world");
  expect(out.done).toBe(true);
  expect(Buffer.from(out.rest as Uint8Array).toString()).toBe("NEXT");
});

test("fed a byte at a time, the same body", () => {
  const decoder = new ChunkedDecoder();
  const all: Uint8Array[] = [];
  let done = false;
  for (const byte of bytes("a\r\n0123456789\r\n0\r\n\r\n")) {
    const out = decoder.feed(new Uint8Array([byte]));
    all.push(...out.chunks.map((c) => c.slice()));
    done = out.done;
  }
  expect(text(all)).toBe("0123456789");
  expect(done).toBe(true);
});

const malformed: [string, string, RegExp][] = [
  ["a size that is not hex", "zz\r\nab\r\n0\r\n\r\n", /not hexadecimal/],
  ["a negative size", "-1\r\n", /not hexadecimal/],
  ["a size too large to be real", "fffffffffffffff\r\n", /not hexadecimal/],
  ["data longer than its size", "2\r\nabc\r\n0\r\n\r\n", /longer than its size/],
  ["a size line ending in a bare LF", "2\nab\r\n", /CRLF/],
  ["an extension with a control character", "2;a=\u0001\r\nab\r\n0\r\n\r\n", /control/],
  ["a malformed trailer", "0\r\nnot a field\r\n\r\n", /trailer/],
  ["an endless size line", `1${";x".repeat(3000)}`, /longer than 4096/],
];

for (const [name, body, reason] of malformed) {
  test(`malformed: ${name}`, () => {
    expect(() => new ChunkedDecoder().feed(bytes(body))).toThrow(reason);
  });
}
