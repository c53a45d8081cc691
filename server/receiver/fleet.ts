import { readFileSync } from "node:fs";
import type { RoleName } from "../shared/config/schema.ts";

export interface FleetHost {
  name: string;
  role: RoleName;
  address: string;
  /** `ssh-ed25519 AAAA…` from the pinned known_hosts */
  hostPublicKey: string;
}

export interface Fleet {
  hosts: FleetHost[];
  privateKey: string;
}

/**
 * The hosts to deploy to, read from the Ansible inventory dropship writes (gitops/inventory.ts):
 * one group per role, the SSH key and the known_hosts file that pins every host's key.
 */
export function readFleet(inventoryFile: string): Fleet {
  const inventory = Bun.YAML.parse(readFileSync(inventoryFile, "utf8")) as {
    all?: {
      vars?: { ansible_ssh_private_key_file?: string; ansible_ssh_common_args?: string };
      children?: Record<
        string,
        { hosts?: Record<string, { ansible_host?: string } | null> | null }
      >;
    };
  };
  const vars = inventory.all?.vars ?? {};
  const knownHostsFile = /UserKnownHostsFile=(\S+)/.exec(vars.ansible_ssh_common_args ?? "")?.[1];
  if (!vars.ansible_ssh_private_key_file || !knownHostsFile) {
    throw new Error(
      `${inventoryFile}: needs all.vars.ansible_ssh_private_key_file and a UserKnownHostsFile in ansible_ssh_common_args`,
    );
  }
  const pinned = new Map<string, string>();
  for (const line of readFileSync(knownHostsFile, "utf8").split("\n")) {
    const [address, type, blob] = line.trim().split(/\s+/);
    if (address && type && blob) pinned.set(address, `${type} ${blob}`);
  }
  const hosts: FleetHost[] = [];
  for (const [role, group] of Object.entries(inventory.all?.children ?? {})) {
    for (const [name, host] of Object.entries(group?.hosts ?? {})) {
      const address = host?.ansible_host ?? name;
      const hostPublicKey = pinned.get(address);
      if (!hostPublicKey)
        throw new Error(`${name} (${address}) has no pinned host key in ${knownHostsFile}`);
      hosts.push({ name, role: role as RoleName, address, hostPublicKey });
    }
  }
  return { hosts, privateKey: readFileSync(vars.ansible_ssh_private_key_file, "utf8") };
}
