import { expect, test } from "bun:test";
import { requestRate } from "../../../server/proxy/core.ts";
import { RequestRate, rateRefusal, rateTableBytes } from "../../../server/proxy/request-rate.ts";
import { validateConfig } from "../../../server/shared/config/validate.ts";

const configOf = (rateLimit: unknown) => {
  const result = validateConfig({ proxy: { rate_limit: rateLimit } });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config;
};

const limits = { perSecond: 10, burst: 20, tracked: 1000 };

test("an address may send its burst at once, then is refused until tokens come back at the rate", () => {
  const rate = new RequestRate(limits);
  for (let i = 0; i < 20; i++) expect(rate.take("203.0.113.7", 1000)).toBe(0);
  // the 21st within the same moment waits a tenth of a second: Retry-After rounds up to 1
  expect(rate.take("203.0.113.7", 1000)).toBe(1);
  // 100 ms later one token is back, and taken; the next is refused again
  expect(rate.take("203.0.113.7", 1100)).toBe(0);
  expect(rate.take("203.0.113.7", 1100)).toBe(1);
  // after a pause the bucket is full again, never fuller than its burst
  for (let i = 0; i < 20; i++) expect(rate.take("203.0.113.7", 60_000)).toBe(0);
  expect(rate.take("203.0.113.7", 60_000)).toBe(1);
});

test("each address has its own bucket; IPv6 addresses share their /64's", () => {
  const rate = new RequestRate({ ...limits, burst: 1 });
  expect(rate.take("203.0.113.7", 0)).toBe(0);
  expect(rate.take("203.0.113.7", 0)).toBe(1);
  expect(rate.take("203.0.113.8", 0)).toBe(0);
  expect(rate.take("2001:db8:1:2::1", 0)).toBe(0);
  expect(rate.take("2001:db8:1:2::ffff", 0)).toBe(1);
  expect(rate.take("2001:db8:1:3::1", 0)).toBe(0);
});

test("Retry-After is the whole seconds until a token is back, at least one", () => {
  const slow = new RequestRate({ perSecond: 1, burst: 1, tracked: 10 });
  expect(slow.take("a", 0)).toBe(0);
  expect(slow.take("a", 0)).toBe(1);
  const slower = new RequestRate({ perSecond: 0.25, burst: 1, tracked: 10 });
  expect(slower.take("a", 0)).toBe(0);
  expect(slower.take("a", 0)).toBe(4);
  expect(slower.take("a", 3000)).toBe(1);
});

test("memory is bounded: a table of fixed size, where a new address takes the idlest slot, never a limited one's", () => {
  const memory = new Uint8Array(rateTableBytes(3));
  // 16 slots (the least a table has), all within one address's reach
  expect(memory.byteLength).toBe(16 * 16);
  const rate = new RequestRate({ perSecond: 10, burst: 10, tracked: 3 }, memory);
  // fifteen addresses send one request at 0 ms (full again at 100 ms), one floods at 950 ms
  for (let i = 0; i < 15; i++) expect(rate.take(`198.51.100.${i}`, 0)).toBe(0);
  for (let i = 0; i < 10; i++) expect(rate.take("203.0.113.9", 950)).toBe(0);
  expect(rate.size).toBe(16);
  // more addresses than slots: each new one takes an idle one's slot; the flood's stays limited
  for (let i = 0; i < 40; i++) expect(rate.take(`192.0.2.${i}`, 1000)).toBe(0);
  expect(rate.size).toBe(16);
  expect(rate.take("203.0.113.9", 1000)).toBe(1);
  // the fifteen idle ones all lost their slots (forty new addresses, the flood's kept): one
  // that comes back is as a new one, with a full bucket
  for (let i = 0; i < 10; i++) expect(rate.take("198.51.100.0", 1000)).toBe(0);
  expect(rate.take("198.51.100.0", 1000)).toBe(1);
});

test("two tables over the same memory are one: the buckets are the memory's, not the object's", () => {
  const memory = new Uint8Array(rateTableBytes(10));
  const first = new RequestRate({ ...limits, tracked: 10 }, memory);
  const second = new RequestRate({ ...limits, tracked: 10 }, memory);
  for (let i = 0; i < 10; i++) expect(first.take("203.0.113.7", 1000)).toBe(0);
  for (let i = 0; i < 10; i++) expect(second.take("203.0.113.7", 1000)).toBe(0);
  expect(first.take("203.0.113.7", 1000)).toBe(1);
  expect(second.take("203.0.113.7", 1000)).toBe(1);
  expect(() => new RequestRate({ ...limits, tracked: 100 }, memory)).toThrow(
    "the request-rate table is 512 bytes where 100 addresses need 4096",
  );
});

test("the refusal says the limit and when to come back", () => {
  expect(rateRefusal(limits, 2)).toBe(
    "This address sent more than 10 requests a second (bursts up to 20), the most one address may send; try again in 2 s.",
  );
});

test("proxy.rate_limit: off by default and at 0; burst auto is twice the rate", () => {
  expect(requestRate(configOf({}))).toBeUndefined();
  expect(requestRate(configOf({ requests_per_second: 0, burst: 50 }))).toBeUndefined();
  expect(requestRate(configOf({ requests_per_second: 100 }))?.limits).toEqual({
    perSecond: 100,
    burst: 200,
    tracked: 100_000,
  });
  expect(requestRate(configOf({ requests_per_second: 100, burst: 150 }))?.limits.burst).toBe(150);
});
