/**
 * What proxy.rate_limit adds to a request: one RequestRate.take() (the address hashed, its slot
 * found in the table and its bucket changed by compare-and-swap), for IPv4 and IPv6 visitors,
 * with as many addresses as a busy site sees at once and with more than the table is sized for
 * (every request a new address, the idlest of a slot's neighbourhood forgotten).
 *
 *   bun bench/request-rate.ts [requests=2000000]
 */
import { RequestRate } from "../server/proxy/request-rate.ts";

const requests = Number(process.argv[2] ?? 2_000_000);

function nsPerTake(addresses: string[], tracked: number): number {
  const rate = new RequestRate({ perSecond: 1e9, burst: 1e9, tracked });
  const rounds: number[] = [];
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now();
    for (let i = 0; i < requests; i++)
      rate.take(addresses[i % addresses.length] as string, t0 + i / 1e4);
    rounds.push(((performance.now() - t0) * 1e6) / requests);
  }
  rounds.sort((a, b) => a - b);
  return rounds[2] as number;
}

const v4 = (n: number) =>
  [...Array(n)].map((_, i) => `203.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
const v6 = (n: number) =>
  [...Array(n)].map((_, i) => `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`);

console.log("| visitors | addresses remembered at most | ns a request (median of 5) |");
console.log("|---|---|---|");
for (const [name, addresses, tracked] of [
  ["1 000 IPv4", v4(1000), 100_000],
  ["1 000 IPv6", v6(1000), 100_000],
  ["200 000 IPv4, past the cap", v4(200_000), 100_000],
] as const)
  console.log(`| ${name} | ${tracked} | ${nsPerTake([...addresses], tracked).toFixed(0)} |`);
