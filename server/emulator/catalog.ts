/** What the emulator offers: a subset of DigitalOcean's slugs, with their real prices. */

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

export const REGIONS: Record<string, string> = {
  nyc1: "New York 1",
  nyc3: "New York 3",
  sfo3: "San Francisco 3",
  ams3: "Amsterdam 3",
  fra1: "Frankfurt 1",
  lon1: "London 1",
  sgp1: "Singapore 1",
  tor1: "Toronto 1",
};

export const IMAGES: Record<string, { id: number; distribution: string; name: string }> = {
  "debian-12-x64": { id: 139_000_001, distribution: "Debian", name: "12 x64" },
  "ubuntu-24-04-x64": { id: 139_000_002, distribution: "Ubuntu", name: "24.04 (LTS) x64" },
};
