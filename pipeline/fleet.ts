import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ConnectionSettings, connectionYaml } from "../gitops/inventory.ts";
import { gitopsDir } from "../gitops/repo.ts";
import type { LocalPaths } from "../server/shared/config/paths.ts";
import type { Config, RoleName } from "../server/shared/config/schema.ts";

export interface FleetHost {
  name: string;
  role: RoleName;
  /** where dropship reaches it (SSH, health, Redis, backends): in the VPC where there is one */
  address: string;
  /** its public address where that differs: the proxy's is the public entry */
  publicAddress?: string;
  /** `ssh-ed25519 AAAA…` from the pinned known_hosts */
  hostPublicKey: string;
}

export interface Fleet {
  hosts: FleetHost[];
  /** the load balancer's public address, when the proxies are behind one: the public entry */
  loadBalancerIp?: string;
  privateKey: string;
  /** where it was read from, for errors */
  privateKeyFile?: string;
}

type HostVars = { ansible_host?: string; public_address?: string };

type InventoryFile = {
  all?: {
    vars?: Record<string, unknown> & {
      ansible_ssh_private_key_file?: string;
      ansible_ssh_common_args?: string;
      dropship_load_balancer?: { ip?: string };
    };
    children?: Record<string, { hosts?: Record<string, HostVars | null> | null }>;
  };
};

/**
 * The hosts to deploy to, read the way Ansible reads them: one or more inventory files (the
 * GitOps repository's inventory.yml and the connection inventory, or one file dropship wrote),
 * groups per role, later files' vars completing earlier ones; the SSH key and the known_hosts
 * file that pins every host's key come from those vars.
 */
export function readFleet(inventoryFiles: string | string[]): Fleet {
  const files = typeof inventoryFiles === "string" ? [inventoryFiles] : inventoryFiles;
  const vars: NonNullable<NonNullable<InventoryFile["all"]>["vars"]> = {};
  const groups: [string, Record<string, HostVars | null>][] = [];
  for (const file of files) {
    const inventory = (Bun.YAML.parse(readFileSync(file, "utf8")) ?? {}) as InventoryFile;
    Object.assign(vars, inventory.all?.vars ?? {});
    for (const [role, group] of Object.entries(inventory.all?.children ?? {}))
      groups.push([role, group?.hosts ?? {}]);
  }
  const knownHostsFile = /UserKnownHostsFile=(\S+)/.exec(vars.ansible_ssh_common_args ?? "")?.[1];
  if (!vars.ansible_ssh_private_key_file || !knownHostsFile) {
    throw new Error(
      `${files.join(" + ")}: needs all.vars.ansible_ssh_private_key_file and a UserKnownHostsFile in ansible_ssh_common_args`,
    );
  }
  const pinned = readPinnedKeys(knownHostsFile);
  const hosts: FleetHost[] = [];
  for (const [role, members] of groups) {
    for (const [name, host] of Object.entries(members)) {
      const address = host?.ansible_host ?? name;
      const hostPublicKey = pinned.get(address);
      if (!hostPublicKey)
        throw new Error(`${name} (${address}) has no pinned host key in ${knownHostsFile}`);
      const publicAddress = host?.public_address;
      hosts.push({
        name,
        role: role as RoleName,
        address,
        ...(publicAddress ? { publicAddress } : {}),
        hostPublicKey,
      });
    }
  }
  const loadBalancerIp = vars.dropship_load_balancer?.ip;
  return {
    hosts,
    ...(loadBalancerIp ? { loadBalancerIp } : {}),
    privateKey: readFileSync(vars.ansible_ssh_private_key_file, "utf8"),
    privateKeyFile: vars.ansible_ssh_private_key_file,
  };
}

/** Each host's pinned key in a known_hosts file dropship wrote, by address. */
export function readPinnedKeys(knownHostsFile: string): Map<string, string> {
  const pinned = new Map<string, string>();
  for (const line of readFileSync(knownHostsFile, "utf8").split("\n")) {
    const [address, type, blob] = line.trim().split(/\s+/);
    if (address && type && blob) pinned.set(address, `${type} ${blob}`);
  }
  return pinned;
}

/**
 * The inventories a fleet managed through the GitOps repository is read from: the repository's
 * inventory.yml, then a connection inventory written beside the work files (key and pinned host
 * keys are this machine's, so they are never committed).
 */
export function gitopsInventories(
  repoDir: string,
  connection: ConnectionSettings,
  workDir: string,
): string[] {
  mkdirSync(workDir, { recursive: true });
  const connectionFile = join(workDir, "connection.yml");
  writeFileSync(connectionFile, connectionYaml(connection));
  return [join(repoDir, "inventory.yml"), connectionFile];
}

export interface FleetSource {
  /** the inventory files, in the order Ansible is given them */
  inventories: string[];
  /** set when the fleet is the GitOps repository's: deploys record their release there */
  gitopsRepo?: string;
}

/**
 * Where the hosts come from: DROPSHIP_INVENTORY when set (a fleet managed by hand), otherwise
 * the GitOps repository (DROPSHIP_GITOPS_REPO, default gitops/repo of the config) once it holds
 * an inventory, logged into with the SSH key and the host keys pinned in the known_hosts file
 * of `paths`. Undefined when there is no fleet yet.
 */
export function fleetSource(
  env: Record<string, string | undefined>,
  config: Pick<Config, "gitops">,
  paths: LocalPaths,
): FleetSource | undefined {
  if (paths.inventory) return { inventories: [paths.inventory] };
  const repo = gitopsDir(config, env);
  if (!existsSync(join(repo, "inventory.yml"))) return undefined;
  if (!existsSync(paths.sshKey)) {
    throw new Error(
      `the fleet in ${repo} needs its SSH key, and ${paths.sshKey} does not exist — set DROPSHIP_SSH_KEY (or digitalocean/ssh_key) to the private key dropship logs in to its hosts with`,
    );
  }
  const connection = { privateKeyFile: paths.sshKey, knownHostsFile: paths.knownHosts };
  return { inventories: gitopsInventories(repo, connection, paths.work), gitopsRepo: repo };
}
