import type { RoleName } from "../server/shared/config/schema.ts";
import type { FleetHostRecord } from "../server/shared/fleet-view.ts";

export type { FleetHostRecord };

import type { InventoryHost } from "./inventory.ts";

/** The load balancer in front of the proxies, when there are several: the public entry. */
export interface LoadBalancerRecord {
  id: string;
  name: string;
  /** its public address, which DNS points at */
  ip: string;
}

export interface FleetInventory {
  /** how many hosts of each role are wanted */
  desired: Partial<Record<RoleName, number>>;
  hosts: FleetHostRecord[];
  loadBalancer?: LoadBalancerRecord;
}

export const EMPTY: FleetInventory = { desired: {}, hosts: [] };

export function addHost(inventory: FleetInventory, host: FleetHostRecord): FleetInventory {
  if (inventory.hosts.some((h) => h.name === host.name))
    throw new Error(`${host.name} is already in the inventory`);
  return { ...inventory, hosts: [...inventory.hosts, host] };
}

export function removeHost(inventory: FleetInventory, name: string): FleetInventory {
  if (!inventory.hosts.some((h) => h.name === name))
    throw new Error(`${name} is not in the inventory`);
  return { ...inventory, hosts: inventory.hosts.filter((h) => h.name !== name) };
}

export function setRelease(
  inventory: FleetInventory,
  role: RoleName,
  release: string,
): FleetInventory {
  return {
    ...inventory,
    hosts: inventory.hosts.map((h) => (h.role === role ? { ...h, release } : h)),
  };
}

export function setDesired(
  inventory: FleetInventory,
  role: RoleName,
  count: number,
): FleetInventory {
  return { ...inventory, desired: { ...inventory.desired, [role]: count } };
}

/** The next free name for a role: `<deployment>-<role>-<n>`. */
export function nextName(inventory: FleetInventory, deployment: string, role: RoleName): string {
  const taken = new Set(inventory.hosts.map((h) => h.name));
  for (let n = 1; ; n++) {
    const name = `${deployment}-${role}-${n}`;
    if (!taken.has(name)) return name;
  }
}

const GROUPS: RoleName[] = ["proxy", "redis", "production", "staging"];

/**
 * The inventory as an Ansible YAML inventory — one group per role, each host's droplet facts
 * as host variables, the desired counts under all.vars — so `ansible-playbook -i` reads the
 * repository itself. How to log in (key file, pinned host keys) is not in it: that belongs to
 * the machine running Ansible and is given as a second inventory (gitops/inventory.ts).
 */
export function toYaml(inventory: FleetInventory): string {
  const children = Object.fromEntries(
    GROUPS.map((role) => [
      role,
      {
        hosts: Object.fromEntries(
          inventory.hosts
            .filter((h) => h.role === role)
            .map((h) => [
              h.name,
              {
                ansible_host: h.address,
                ...(h.publicAddress ? { public_address: h.publicAddress } : {}),
                droplet_id: h.dropletId,
                region: h.region,
                size: h.size,
                ...(h.release ? { release: h.release } : {}),
                created: h.created,
              },
            ]),
        ),
      },
    ]),
  );
  const vars = {
    dropship_desired: inventory.desired,
    ...(inventory.loadBalancer ? { dropship_load_balancer: inventory.loadBalancer } : {}),
  };
  const body = Bun.YAML.stringify({ all: { vars, children } }, null, 2);
  return `# The fleet, as dropship left it: an Ansible inventory. Written by dropship; every change is a commit.\n${body}\n`;
}

export function fromYaml(text: string): FleetInventory {
  const raw = (Bun.YAML.parse(text) ?? {}) as {
    all?: {
      vars?: {
        dropship_desired?: Record<string, number>;
        dropship_load_balancer?: LoadBalancerRecord;
      };
      children?: Record<string, { hosts?: Record<string, Record<string, unknown> | null> | null }>;
    };
  };
  const hosts: FleetHostRecord[] = [];
  for (const [role, group] of Object.entries(raw.all?.children ?? {})) {
    for (const [name, h] of Object.entries(group?.hosts ?? {})) {
      hosts.push({
        name,
        role: role as RoleName,
        dropletId: Number(h?.droplet_id),
        address: String(h?.ansible_host ?? name),
        ...(h?.public_address ? { publicAddress: String(h.public_address) } : {}),
        region: String(h?.region ?? ""),
        size: String(h?.size ?? ""),
        ...(h?.release ? { release: String(h.release) } : {}),
        created: String(h?.created ?? ""),
      });
    }
  }
  const balancer = raw.all?.vars?.dropship_load_balancer;
  return {
    desired: raw.all?.vars?.dropship_desired ?? {},
    hosts,
    ...(balancer?.id && balancer.ip
      ? {
          loadBalancer: {
            id: String(balancer.id),
            name: String(balancer.name),
            ip: String(balancer.ip),
          },
        }
      : {}),
  };
}

/** The hosts as the Ansible inventory builder wants them. */
export function ansibleHosts(inventory: FleetInventory): InventoryHost[] {
  return inventory.hosts.map((h) => ({
    name: h.name,
    role: h.role,
    address: h.address,
    dropletId: h.dropletId,
  }));
}

/** How many hosts each role should have, from the config. */
export function wantedHosts(config: {
  roles: {
    proxy?: { count: number };
    redis?: { count: number };
    production: { count: number };
    staging: { count: number };
  };
}): Record<RoleName, number> {
  return {
    proxy: config.roles.proxy?.count ?? 1,
    redis: config.roles.redis?.count ?? 1,
    production: config.roles.production.count,
    staging: config.roles.staging.count,
  };
}

/** The hosts to create so every role has what it wants, named after the next free numbers. */
export function missingHosts(
  inventory: FleetInventory,
  deployment: string,
  wanted: Record<RoleName, number>,
): { role: RoleName; name: string }[] {
  let planned = inventory;
  const missing: { role: RoleName; name: string }[] = [];
  for (const role of ["proxy", "redis", "production", "staging"] as RoleName[]) {
    const have = inventory.hosts.filter((h) => h.role === role).length;
    for (let i = have; i < wanted[role]; i++) {
      const name = nextName(planned, deployment, role);
      missing.push({ role, name });
      planned = {
        ...planned,
        hosts: [
          ...planned.hosts,
          { name, role, dropletId: 0, address: "", region: "", size: "", created: "" },
        ],
      };
    }
  }
  return missing;
}
