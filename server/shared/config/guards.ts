import type { Config } from "./schema.ts";

/**
 * What one visitor's address may take of the proxy, as `bun run status` says it: its
 * connections (counted in each proxy process, where the open files they hold are) and its
 * requests a second (counted for the whole proxy host, its workers together).
 */
export function describeGuards(proxy: Config["proxy"]): string {
  const { max_connections_per_address: connections, rate_limit } = proxy;
  const { requests_per_second: perSecond, burst } = rate_limit;
  const held =
    connections > 0
      ? `${connections} connections an address in each proxy process`
      : "connections an address: no limit (proxy.max_connections_per_address 0)";
  const rate =
    perSecond > 0
      ? `${perSecond} requests a second an address on each proxy host (bursts of ${burst === "auto" ? perSecond * 2 : burst}; 429 past it)`
      : "requests a second: no limit (proxy.rate_limit.requests_per_second)";
  return `${held}, ${rate}`;
}
