import { expect, test } from "bun:test";
import { describeGuards } from "../../../../server/shared/config/guards.ts";
import { validateConfig } from "../../../../server/shared/config/validate.ts";

const proxyOf = (proxy: unknown) => {
  const result = validateConfig({ proxy });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config.proxy;
};

test("by default: connections an address limited in each process, its request rate not at all", () => {
  expect(describeGuards(proxyOf({}))).toBe(
    "256 connections an address in each proxy process, requests a second: no limit (proxy.rate_limit.requests_per_second)",
  );
});

test("a request rate is said for the host, with its burst worked out; no connection limit is said as such", () => {
  expect(
    describeGuards(
      proxyOf({ max_connections_per_address: 0, rate_limit: { requests_per_second: 10 } }),
    ),
  ).toBe(
    "connections an address: no limit (proxy.max_connections_per_address 0), 10 requests a second an address on each proxy host (bursts of 20; 429 past it)",
  );
  expect(describeGuards(proxyOf({ rate_limit: { requests_per_second: 10, burst: 15 } }))).toContain(
    "(bursts of 15; 429 past it)",
  );
});
