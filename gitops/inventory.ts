import type { RoleName } from "../server/shared/config/schema.ts";

export interface InventoryHost {
  name: string;
  role: RoleName;
  address: string;
  dropletId?: number;
}

export interface ConnectionSettings {
  /** the private key Ansible logs in with */
  privateKeyFile: string;
  /** the known_hosts file that pins every host's key */
  knownHostsFile: string;
}

const GROUPS: RoleName[] = ["proxy", "redis", "production", "staging"];

/**
 * How Ansible logs in, as an inventory of its own with no hosts: passed after the GitOps
 * repository's inventory (`-i repo/inventory.yml -i connection.yml`), whose groups it completes.
 */
export function connectionYaml(connection: ConnectionSettings): string {
  return Bun.YAML.stringify({ all: { vars: connectionVars(connection) } }, null, 2);
}

function connectionVars(connection: ConnectionSettings) {
  return {
    ansible_user: "root",
    ansible_ssh_private_key_file: connection.privateKeyFile,
    ansible_ssh_common_args: `-o UserKnownHostsFile=${connection.knownHostsFile} -o StrictHostKeyChecking=yes -o BatchMode=yes`,
    ansible_python_interpreter: "/usr/bin/python3",
  };
}

/** The Ansible inventory (YAML) for some hosts: one group per role, host keys pinned. */
export function inventoryYaml(hosts: InventoryHost[], connection: ConnectionSettings): string {
  const children: Record<string, { hosts: Record<string, Record<string, unknown>> }> = {};
  for (const group of GROUPS) {
    const members = hosts.filter((h) => h.role === group);
    children[group] = {
      hosts: Object.fromEntries(
        members.map((h) => [
          h.name,
          { ansible_host: h.address, ...(h.dropletId ? { droplet_id: h.dropletId } : {}) },
        ]),
      ),
    };
  }
  const inventory = {
    all: {
      vars: connectionVars(connection),
      children,
    },
  };
  return Bun.YAML.stringify(inventory, null, 2);
}
