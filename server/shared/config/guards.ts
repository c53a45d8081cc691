import type { Config } from "./schema.ts";

/**
 * What one visitor's address may take of the proxy, as `bun run status` says it: its
 * connections (counted in each proxy process, where the open files they hold are) and its
 * requests a second (counted for the whole proxy host, its workers together).
 */
export function describeGuards(proxy: Config["proxy"]): string {
  const connections = proxy.max_connections_per_address;
  const rate = rateLimitOf(proxy);
  const held =
    connections > 0
      ? `${connections} connections an address in each proxy process`
      : "connections an address: no limit (proxy.max_connections_per_address 0)";
  const requests = rate
    ? `${rate.perSecond} requests a second an address on each proxy host (bursts of ${rate.burst}; 429 past it)`
    : "requests a second: no limit (proxy.rate_limit.requests_per_second)";
  return `${held}, ${requests}`;
}

/** proxy.rate_limit with its burst worked out (auto: twice the rate), or undefined when it is off. */
export function rateLimitOf(
  proxy: Config["proxy"],
): { perSecond: number; burst: number } | undefined {
  const { requests_per_second: perSecond, burst } = proxy.rate_limit;
  if (perSecond === 0) return undefined;
  return { perSecond, burst: burst === "auto" ? perSecond * 2 : burst };
}
