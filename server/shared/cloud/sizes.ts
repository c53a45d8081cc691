/**
 * DigitalOcean's list prices for the droplet sizes dropship offers (what the emulator serves
 * at /v2/sizes too), and the fleet's cost from them: plain data, plain functions.
 */

export interface Size {
  slug: string;
  memory: number;
  vcpus: number;
  disk: number;
  price_monthly: number;
  price_hourly: number;
}

const size = (
  slug: string,
  memory: number,
  vcpus: number,
  disk: number,
  monthly: number,
): Size => ({
  slug,
  memory,
  vcpus,
  disk,
  price_monthly: monthly,
  // DigitalOcean bills at most 672 hours a month
  price_hourly: Math.round((monthly / 672) * 100_000) / 100_000,
});

export const SIZES: Size[] = [
  size("s-1vcpu-512mb-10gb", 512, 1, 10, 4),
  size("s-1vcpu-1gb", 1024, 1, 25, 6),
  size("s-1vcpu-2gb", 2048, 1, 50, 12),
  size("s-2vcpu-2gb", 2048, 2, 60, 18),
  size("s-2vcpu-4gb", 4096, 2, 80, 24),
  size("s-4vcpu-8gb", 8192, 4, 160, 48),
];

/** What some droplets cost per hour; sizes with no known price are named, not guessed. */
export function hourlyCost(sizes: string[]): { dollars: number; unpriced: string[] } {
  let dollars = 0;
  const unpriced: string[] = [];
  for (const slug of sizes) {
    const known = SIZES.find((s) => s.slug === slug);
    if (known) dollars += known.price_hourly;
    else unpriced.push(slug);
  }
  return { dollars: Math.round(dollars * 100_000) / 100_000, unpriced };
}

export function formatCost(cost: { dollars: number; unpriced: string[] }): string {
  const extra = cost.unpriced.length > 0 ? ` + ${cost.unpriced.join(", ")} (price unknown)` : "";
  return `$${cost.dollars.toFixed(4)}/h (~$${(cost.dollars * 672).toFixed(0)}/month)${extra}`;
}
