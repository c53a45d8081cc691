/** What the emulator offers: a subset of DigitalOcean's slugs, with their real prices. */

export { SIZES } from "../shared/cloud/sizes.ts";

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
