import { resolve } from "node:path";
import { expandPath } from "./locate.ts";
import type { Config } from "./schema.ts";

/** The machine-local paths every command and server uses, each expanded and absolute. */
export interface LocalPaths {
  /** DROPSHIP_WORK: workspaces, caches, deploy locks and kept releases */
  work: string;
  /** DROPSHIP_KNOWN_HOSTS: the hosts' pinned SSH keys */
  knownHosts: string;
  /** DROPSHIP_REPOS: the receiver's bare repositories */
  repos: string;
  /** DROPSHIP_SSH_KEY, else the config's digitalocean/ssh_key: the private key for the hosts */
  sshKey: string;
  /** DROPSHIP_INVENTORY: a hand-kept Ansible inventory, when there is one */
  inventory: string | undefined;
  /** DROPSHIP_USERS_FILE: the named users and their token hashes (bun run users) */
  users: string;
  /** DROPSHIP_BACKUPS: the sets bun run backup takes */
  backups: string;
}

/** The defaults, written once: relative to the working directory. */
export const PATH_DEFAULTS = {
  DROPSHIP_WORK: ".dropship/work",
  DROPSHIP_KNOWN_HOSTS: ".dropship/known_hosts",
  DROPSHIP_REPOS: ".dropship/repos",
  DROPSHIP_USERS_FILE: ".dropship/users",
  DROPSHIP_BACKUPS: ".dropship/backups",
} as const;

/**
 * Reads the path settings once, the same way everywhere: `~` and `$VAR` expanded (a `.env`
 * file is not run through a shell), then made absolute against the working directory.
 */
export function localPaths(
  config: Pick<Config, "digitalocean">,
  env: Record<string, string | undefined> = process.env,
  cwd = process.cwd(),
): LocalPaths {
  const path = (text: string) => resolve(cwd, expandPath(text, env));
  const setting = (name: keyof typeof PATH_DEFAULTS) => path(env[name] || PATH_DEFAULTS[name]);
  return {
    work: setting("DROPSHIP_WORK"),
    knownHosts: setting("DROPSHIP_KNOWN_HOSTS"),
    repos: setting("DROPSHIP_REPOS"),
    sshKey: path(env.DROPSHIP_SSH_KEY || config.digitalocean.ssh_key),
    inventory: env.DROPSHIP_INVENTORY ? path(env.DROPSHIP_INVENTORY) : undefined,
    users: setting("DROPSHIP_USERS_FILE"),
    backups: setting("DROPSHIP_BACKUPS"),
  };
}
