/**
 * Every environment variable a command or server reads, described once: the servers' and
 * the commands' --help both list theirs from here. Values come from the environment, else
 * `.env`, else `.dropship/fleet.env` (written by setup).
 */
export const VARIABLES = {
  DROPSHIP_CONFIG: "the deployment config (default: dropship.yml in the working directory)",
  REDIS_URL: "the fleet's Redis, like redis://:password@10.0.0.2:6379/0",
  PROXY_URL: "the proxy's public URL (setup writes it)",
  DASHBOARD_URL:
    "the proxy's admin listener, for status (setup writes it); with proxies in the inventory, its scheme and port for each",
  DROPSHIP_ADMIN_TOKEN: "the admin password: dashboard, admin API, git push (16+ characters)",
  DROPSHIP_REDIS_PASSWORD: "the Redis password setup gives the Redis host (16+ characters)",
  DIGITALOCEAN_TOKEN: "a DigitalOcean API token with read and write scope",
  DIGITALOCEAN_API_URL:
    "the API's base URL (default https://api.digitalocean.com/v2; the emulator's)",
  DROPSHIP_SSH_KEY:
    "the private key for the hosts, its .pub beside it (default digitalocean/ssh_key)",
  DROPSHIP_KNOWN_HOSTS: "the hosts' pinned SSH keys (default .dropship/known_hosts)",
  DROPSHIP_WORK: "workspaces, caches, deploy locks and kept releases (default .dropship/work)",
  DROPSHIP_REPOS: "the receiver's bare repositories (default .dropship/repos)",
  DROPSHIP_BACKUPS:
    "the backup sets of Redis and the GitOps inventory, bun run backup's (default .dropship/backups)",
  DROPSHIP_USERS_FILE:
    "named users and their token hashes, written by bun run users (default .dropship/users)",
  DROPSHIP_REPO: "the repository that deploys (default app)",
  DROPSHIP_BUILD_SERVERS:
    "the servers to compile, comma-separated (default all: proxy,app,monitor,receiver)",
  DROPSHIP_BUILD_CACHE:
    "a directory where bun run build keeps what it compiled, to copy the same again (default: none)",
  DROPSHIP_INVENTORY: "an Ansible inventory of hosts kept by hand (default: the GitOps inventory)",
  DROPSHIP_GITOPS_REPO: "the GitOps inventory repository (default: the config's gitops/repo)",
  DROPSHIP_GITOPS_TOKEN: "credentials for pushing the inventory to gitops/remote",
  DROPSHIP_ACTOR: "who the audit names (default: git user.email, else login@host)",
  DROPSHIP_DNS_SERVER:
    "host:port of the DNS server that checks a domain points at the proxy (default: the system's)",
  DROPSHIP_ACME_CA_FILE:
    "PEM the ACME directory's own HTTPS is signed by, for a test CA such as pebble (default: the system's)",
  DROPSHIP_CA_FILE:
    "PEM of a CA to trust for the proxy's HTTPS besides the system's (the demo's test CA)",
  SMTP_URL: "smtp(s)://user:password@host:port for mail; unset: notices are only printed",
  ALERT_EMAIL_TO: "who gets the mail",
  VERBOSE: "1: a failure prints its stack too",
} as const;

export type VariableName = keyof typeof VARIABLES;

export interface HelpEntry {
  name: string;
  description: string;
}

/** The --help text of a command or a server: usage, what it does, options, variables. */
export function formatHelp(help: {
  usage: string[];
  about: string;
  options?: HelpEntry[];
  variables?: HelpEntry[];
  variablesTitle?: string;
}): string {
  const table = (entries: HelpEntry[]) => {
    const width = Math.max(...entries.map((e) => e.name.length)) + 2;
    return entries.map((e) => `  ${e.name.padEnd(width)}${e.description}`);
  };
  const lines = help.usage.map((line, i) => `${i === 0 ? "Usage: " : "       "}${line}`);
  lines.push("", help.about.trim());
  if (help.options?.length) lines.push("", "Options:", ...table(help.options));
  if (help.variables?.length)
    lines.push(
      "",
      help.variablesTitle ?? "Reads, from the environment or .env:",
      ...table(help.variables),
    );
  return lines.join("\n");
}
