import { expect, test } from "bun:test";
import { copyLowered, equalsIgnoringCase, NameTable } from "../../../server/proxy/field-names.ts";

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
