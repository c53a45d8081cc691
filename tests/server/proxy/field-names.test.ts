import { expect, test } from "bun:test";
import {
  copyLowered,
  decimalSize,
  equalsIgnoringCase,
  fieldSize,
  NameTable,
  writeDecimal,
  writeField,
  writeLatin1,
} from "../../../server/proxy/field-names.ts";

const bytes = (text: string) => Buffer.from(text, "latin1");

test("a name is known in any case, only whole, and anything else is the fallback", () => {
  const table = new NameTable(
    new Map([
      ["host", "host"],
      ["date", "date"],
      ["content-length", "length"],
    ]),
    "other",
  );
  const line = bytes("xHoSt:Content-LENGTH:Hosts:dat:date");
  expect(table.kindOf(line, 1, 5)).toBe("host");
  expect(table.kindOf(line, 6, 20)).toBe("length");
  expect(table.kindOf(line, 21, 26)).toBe("other"); // Hosts
  expect(table.kindOf(line, 27, 30)).toBe("other"); // dat
  expect(table.kindOf(line, 31, 35)).toBe("date");
  expect(table.kindOf(bytes("hosT"), 0, 4)).toBe("host");
});

test("equalsIgnoringCase and copyLowered touch ASCII letters only", () => {
  expect(equalsIgnoringCase(bytes("Chunked"), 0, 7, "chunked")).toBe(true);
  expect(equalsIgnoringCase(bytes("chunked "), 0, 8, "chunked")).toBe(false);
  expect(equalsIgnoringCase(bytes("CHUNKE\u00c4"), 0, 7, "chunked")).toBe(false);
  const out = new Uint8Array(8);
  expect(copyLowered(bytes("X-A[\u00c4Z@"), 0, 7, out, 1)).toBe(8);
  expect(Buffer.from(out.subarray(1)).toString("latin1")).toBe("x-a[\u00c4z@");
});

test("writeLatin1 writes what Buffer's latin1 writes, a byte a character, and says where it ended", () => {
  // ASCII, obs-text (é), a character past Latin-1 (€, its low byte), an empty string
  for (const text of ["x-request-id: r1", "caf\u00e9", "5 \u20ac", ""]) {
    const out = new Uint8Array(text.length + 2);
    expect(writeLatin1(out, 1, text)).toBe(1 + text.length);
    expect([...out.subarray(1, 1 + text.length)]).toEqual([...Buffer.from(text, "latin1")]);
    expect(out[0]).toBe(0);
    expect(out[text.length + 1]).toBe(0);
  }
  // from a concatenated string too (a rope, flattened as it is read)
  const id = crypto.randomUUID();
  const cookie = `dropship_client=${id}; Path=/`;
  const out = new Uint8Array(cookie.length);
  writeLatin1(out, 0, cookie);
  expect(Buffer.from(out).toString("latin1")).toBe(`dropship_client=${id}; Path=/`);
});

test("writeField writes one name: value CRLF line of the size fieldSize says", () => {
  const out = new Uint8Array(fieldSize("x-dropship-track", "production") + 1);
  expect(writeField(out, 1, "x-dropship-track", "production")).toBe(out.length);
  expect(Buffer.from(out.subarray(1)).toString("latin1")).toBe("x-dropship-track: production\r\n");
  const empty = new Uint8Array(fieldSize("x-empty", ""));
  writeField(empty, 0, "x-empty", "");
  expect(Buffer.from(empty).toString("latin1")).toBe("x-empty: \r\n");
});

test("writeDecimal writes a length as String() would, in decimalSize bytes", () => {
  for (const n of [0, 7, 9, 10, 99, 100, 4096, 65536, 999_999_999_999_999]) {
    const text = String(n);
    expect(decimalSize(n)).toBe(text.length);
    const out = new Uint8Array(text.length + 2);
    expect(writeDecimal(out, 1, n)).toBe(1 + text.length);
    expect(Buffer.from(out.subarray(1, 1 + text.length)).toString("latin1")).toBe(text);
    expect(out[text.length + 1]).toBe(0);
  }
});
