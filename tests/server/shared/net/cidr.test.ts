import { expect, test } from "bun:test";
import {
  addressBytes,
  addressKey,
  inAnyCidr,
  parseCidr,
} from "../../../../server/shared/net/cidr.ts";

const blocks = (...texts: string[]) =>
  texts.map((t) => parseCidr(t)).filter((b) => b !== undefined);

test("IPv4 blocks cover what they should and nothing else", () => {
  const lan = blocks("10.10.0.0/16", "192.0.2.7");
  expect(inAnyCidr("10.10.3.4", lan)).toBe(true);
  expect(inAnyCidr("10.11.0.1", lan)).toBe(false);
  expect(inAnyCidr("192.0.2.7", lan)).toBe(true);
  expect(inAnyCidr("192.0.2.8", lan)).toBe(false);
  expect(inAnyCidr("::ffff:10.10.9.9", lan)).toBe(true);
  expect(inAnyCidr("10.10.0.1", blocks("10.10.0.0/15"))).toBe(true);
  expect(inAnyCidr("203.0.113.1", blocks("0.0.0.0/0"))).toBe(true);
  expect(inAnyCidr("2001:db8::1", blocks("0.0.0.0/0"))).toBe(false);
});

test("IPv6 blocks, compressed forms and mapped IPv4", () => {
  const v6 = blocks("2001:db8::/32", "::1");
  expect(inAnyCidr("2001:db8:1::5", v6)).toBe(true);
  expect(inAnyCidr("2001:db9::5", v6)).toBe(false);
  expect(inAnyCidr("::1", v6)).toBe(true);
  expect(addressBytes("::ffff:127.0.0.1")).toEqual(addressBytes("127.0.0.1"));
});

test("what is not an address block is refused, and no blocks trust no one", () => {
  for (const text of [
    "10.0.0.0/33",
    "10.0.0",
    "256.0.0.1",
    "10.0.0.1/x",
    "fe80::1::2",
    "host.example",
    "1.2.3.4/8/9",
    "::/129",
  ]) {
    expect(parseCidr(text)).toBeUndefined();
  }
  expect(inAnyCidr("127.0.0.1", [])).toBe(false);
  expect(inAnyCidr("not an address", blocks("0.0.0.0/0"))).toBe(false);
});

test("an address is keyed as itself for IPv4 (::ffff: forms too), by its /64 for IPv6", () => {
  expect(addressKey("203.0.113.9")).toBe("203.0.113.9");
  expect(addressKey("::ffff:203.0.113.9")).toBe("203.0.113.9");
  expect(addressKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
  expect(addressKey("2001:0db8:0001:0002:ffff:ffff:ffff:ffff")).toBe("2001:db8:1:2::/64");
  expect(addressKey("2001:db8::9")).toBe("2001:db8:0:0::/64");
  expect(addressKey("unknown")).toBe("unknown");
});
