import type { RoleName } from "../config/schema.ts";
import type { FleetHostRecord } from "../fleet-view.ts";
import type { DigitalOcean, Droplet, DropletSpec } from "./digitalocean.ts";
import { type HostKey, hostKeyUserData, knownHostsLine, makeHostKey } from "./hostkeys.ts";

export interface NewHost {
  name: string;
  droplet: Droplet;
  hostKey: HostKey;
  /** the known_hosts line that pins it */
  knownHost: string;
}

/**
 * Creates droplets whose SSH host keys are made here and handed over in user_data, then waits
 * until each is active with an address: hosts that can be reached safely on first contact.
 */
export async function createHosts(
  provider: DigitalOcean,
  specs: Omit<DropletSpec, "userData">[],
  timeoutMs: number,
  pollMs = 500,
): Promise<NewHost[]> {
  const made: { name: string; droplet: Droplet; hostKey: HostKey }[] = [];
  for (const spec of specs) {
    const hostKey = makeHostKey(spec.name);
    const droplet = await provider.createDroplet({ ...spec, userData: hostKeyUserData(hostKey) });
    made.push({ name: spec.name, droplet, hostKey });
  }
  const hosts: NewHost[] = [];
  for (const entry of made) {
    const droplet = await provider.waitActive(entry.droplet, timeoutMs, pollMs);
    hosts.push({
      ...entry,
      droplet,
      knownHost: knownHostsLine(droplet.ip as string, entry.hostKey),
    });
  }
  return hosts;
}

/**
 * A new host as the inventory records it. dropship reaches it at its private address (SSH,
 * health checks, Redis, the proxy's backends); the public one is kept where it differs.
 */
export function recordOf(host: NewHost, role: RoleName, release?: string): FleetHostRecord {
  const { droplet } = host;
  return {
    name: host.name,
    role,
    dropletId: droplet.id,
    address: droplet.ip as string,
    ...(droplet.publicIp && droplet.publicIp !== droplet.ip
      ? { publicAddress: droplet.publicIp }
      : {}),
    region: droplet.region,
    size: droplet.size,
    ...(release ? { release } : {}),
    created: droplet.createdAt,
  };
}
