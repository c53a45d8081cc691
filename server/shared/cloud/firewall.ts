import type { Config, RoleName } from "../config/schema.ts";
import { ADMIN_PORT } from "../env.ts";
import { SENTINEL_PORT } from "../state/sentinel-fleet.ts";
import { tagsFor } from "./spec.ts";

/** A cloud firewall as the API takes it (POST and PUT /v2/firewalls). */
export interface FirewallRequest {
  name: string;
  tags: string[];
  inbound_rules: { protocol: "tcp" | "udp" | "icmp"; ports: string; sources: Peers }[];
  outbound_rules: { protocol: "tcp" | "udp" | "icmp"; ports: string; destinations: Peers }[];
}

interface Peers {
  addresses?: string[];
  tags?: string[];
}

const ANYWHERE = ["0.0.0.0/0", "::/0"];
const ROLES: readonly RoleName[] = ["proxy", "redis", "production", "staging"];

/**
 * The deployment's cloud firewalls: one per role, on the role's tag, since a firewall's rules
 * hold for every droplet it applies to. Only the proxy's 80 and 443 are open to the world.
 * SSH and the monitors answer the control host; the admin port answers `proxy.admin_allow`
 * (default: the control host); the apps answer the proxies (and the control host, which checks
 * their health during deploys); Redis answers the fleet and the control host. Outbound is open.
 */
export function fleetFirewalls(config: Config, control: readonly string[]): FirewallRequest[] {
  const roleTag = (role: RoleName) => tagsFor(config, role)[1] as string;
  const fromControl = { addresses: [...control] };
  const tcp = (ports: number | string, sources: Peers) => ({
    protocol: "tcp" as const,
    ports: String(ports),
    sources,
  });
  // with a replica, the Sentinels on the Redis and proxy hosts answer the fleet and control
  const sentinels =
    config.roles.redis.count > 1
      ? [tcp(SENTINEL_PORT, { ...fromControl, tags: [config.digitalocean.tag] })]
      : [];
  const only: Record<RoleName, FirewallRequest["inbound_rules"]> = {
    proxy: [
      ...sentinels,
      tcp(config.ports.proxy, { addresses: ANYWHERE }),
      tcp(443, { addresses: ANYWHERE }),
      tcp(ADMIN_PORT, {
        addresses: config.proxy.admin_allow.length > 0 ? config.proxy.admin_allow : [...control],
      }),
    ],
    redis: [
      tcp(config.ports.redis, { ...fromControl, tags: [config.digitalocean.tag] }),
      ...sentinels,
    ],
    production: [tcp(config.ports.app, { ...fromControl, tags: [roleTag("proxy")] })],
    staging: [tcp(config.ports.app, { ...fromControl, tags: [roleTag("proxy")] })],
  };
  return ROLES.map((role) => ({
    name: `${config.name}-${role}`,
    tags: [roleTag(role)],
    inbound_rules: [tcp(22, fromControl), tcp(config.ports.monitor, fromControl), ...only[role]],
    outbound_rules: (["tcp", "udp", "icmp"] as const).map((protocol) => ({
      protocol,
      ports: "0",
      destinations: { addresses: ANYWHERE },
    })),
  }));
}
