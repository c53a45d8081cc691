import { expect, test } from "bun:test";
import { requestRate } from "../../../server/proxy/core.ts";
import { RequestRate, rateRefusal } from "../../../server/proxy/request-rate.ts";
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

test("memory is bounded: buckets that filled again are swept, and a full map makes room", () => {
  const rate = new RequestRate({ perSecond: 10, burst: 10, tracked: 3 });
  rate.take("a", 0);
  rate.take("b", 0);
  for (let i = 0; i < 10; i++) rate.take("c", 900);
  // at 1000 ms: a and b have refilled (their one token back in 0.1 s); c is still short
  rate.sweep(1000);
  expect(rate.size).toBe(1);
  // c is remembered: still refused as it was
  expect(rate.take("c", 1000)).toBe(0);
  expect(rate.take("c", 1000)).toBe(1);
  // d has refilled by 1500 ms (one token short), e has not (all ten taken at 1400 ms)
  rate.take("d", 1000);
  for (let i = 0; i < 10; i++) rate.take("e", 1400);
  expect(rate.size).toBe(3);
  // full: a new address first sweeps, which frees d only
  rate.take("f", 1500);
  expect(rate.size).toBe(3);
  expect(rate.take("e", 1500)).toBe(0);
  expect(rate.take("e", 1500)).toBe(1);
  // full again and nothing refilled: every bucket goes, and e starts full again
  rate.take("g", 1500);
  expect(rate.size).toBe(1);
  for (let i = 0; i < 10; i++) expect(rate.take("e", 1500)).toBe(0);
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
