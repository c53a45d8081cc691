import { expect, test } from "bun:test";
import {
  type AccessEntry,
  AccessLines,
  accessLine,
  logValue,
  pathOf,
  Stamp,
} from "../../../server/proxy/access-line.ts";

const ENTRY: AccessEntry = {
  at: Date.UTC(2026, 11, 5, 20, 11, 27, 123),
  status: 200,
  method: "GET",
  target: "/cart/3?token=secret-value&x=1",
  host: "shop.example",
  ms: 12.345,
  bytes: 1548,
  track: "production",
  backend: "10.10.0.5:3000",
  visitor: "203.0.113.9",
  requestId: "9f1c-42",
  userAgent: "Mozilla/5.0 (X11; Linux x86_64)",
};

test("a line: the time, then each field as key=value; the query is left out, the user agent quoted", () => {
  expect(accessLine(ENTRY)).toBe(
    '2026-12-05T20:11:27.123Z status=200 method=GET path=/cart/3 host=shop.example ms=12.3 bytes=1548 track=production backend=10.10.0.5:3000 visitor=203.0.113.9 request_id=9f1c-42 user_agent="Mozilla/5.0 (X11; Linux x86_64)"\n',
  );
  expect(accessLine({ ...ENTRY, userAgent: null })).toEndWith(" user_agent=-\n");
  expect(accessLine(ENTRY)).not.toContain("secret-value");
  // no Host (HTTP/1.0), a stream whose size its head did not say
  expect(accessLine({ ...ENTRY, host: null, bytes: null })).toContain(
    " path=/cart/3 host=- ms=12.3 bytes=- track=",
  );
});

test("a Host a stranger made up stays one value: quoted, escaped, cut", () => {
  const lines = new AccessLines();
  const hostOf = (host: string | null) =>
    / host=(.*) ms=/.exec(lines.line({ ...ENTRY, host }))?.[1];
  expect(hostOf("shop.example:8443")).toBe("shop.example:8443");
  expect(hostOf('evil" status=500 x="')).toBe('"evil\\" status=500 x=\\""');
  expect(hostOf("a\r\nb")).toBe('"a\\x0d\\x0ab"');
  // the same Host again is the same value, and the next one its own
  expect(hostOf("a\r\nb")).toBe('"a\\x0d\\x0ab"');
  expect(hostOf("shop.example")).toBe("shop.example");
  expect(hostOf(null)).toBe("-");
  expect(hostOf("h".repeat(1000))).toBe(`"${"h".repeat(260)}…"`);
});

test("whatever a stranger sends, a value stays one quoted value on one line, and escapes nothing a terminal obeys", () => {
  expect(logValue("/plain/path-1.html")).toBe("/plain/path-1.html");
  expect(logValue("")).toBe('""');
  expect(logValue("a b")).toBe('"a b"');
  expect(logValue("k=v")).toBe('"k=v"');
  expect(logValue('say "hi"')).toBe('"say \\"hi\\""');
  expect(logValue("back\\slash")).toBe('"back\\\\slash"');
  // a forged second line, a terminal's escape, DEL and a C1 control (CSI)
  expect(logValue("x\r\n2026-01-01T00:00:00Z status=200")).toBe(
    '"x\\x0d\\x0a2026-01-01T00:00:00Z status=200"',
  );
  expect(logValue("\x1b[31mred\x7f\x9b")).toBe('"\\x1b[31mred\\x7f\\x9b"');
  // printable text beyond ASCII is kept as it is, quoted
  expect(logValue("/café")).toBe('"/café"');
  const line = accessLine({ ...ENTRY, userAgent: "a\nb\u0000c\u2028" });
  expect(line.split("\n")).toHaveLength(2);
  expect(line).toContain('user_agent="a\\x0ab\\x00c\u2028"');
});

test("long values are cut, with a mark where", () => {
  // the mark is not plain ASCII: the cut value is quoted
  expect(logValue("/".repeat(5000))).toBe(`"${"/".repeat(1000)}…"`);
  const agent = accessLine({ ...ENTRY, userAgent: "u".repeat(1000) });
  expect(agent).toContain(`user_agent="${"u".repeat(300)}…"`);
  expect(logValue("GET".repeat(20), 20)).toBe(`"${"GET".repeat(20).slice(0, 20)}…"`);
});

test("the query is left out; a target without one is whole", () => {
  expect(pathOf("/a?b=c")).toBe("/a");
  expect(pathOf("/a")).toBe("/a");
  expect(pathOf("?x")).toBe("");
});

test("one maker of lines, many requests: each line has its own agent, time and duration", () => {
  const lines = new AccessLines();
  const agents = ["a/1", "a/1", 'b "2"', null, "a/1"];
  const made = agents.map((userAgent, n) =>
    lines.line({ ...ENTRY, at: ENTRY.at + n, ms: n === 2 ? 0 : 7.25, userAgent }),
  );
  expect(made.map((l) => / user_agent=(.*)\n$/.exec(l)?.[1])).toEqual([
    "a/1",
    "a/1",
    '"b \\"2\\""',
    "-",
    "a/1",
  ]);
  expect(made.map((l) => l.slice(19, 23))).toEqual([".123", ".124", ".125", ".126", ".127"]);
  expect(made.map((l) => / ms=(\S+) /.exec(l)?.[1])).toEqual(["7.3", "7.3", "0", "7.3", "7.3"]);
});

test("the time is made once a millisecond, and anew for the next", () => {
  const stamp = new Stamp();
  const first = stamp.of(1_000);
  expect(stamp.of(1_000)).toBe(first);
  expect(stamp.of(1_001)).toBe("1970-01-01T00:00:01.001Z");
});
