import type { Config, RoleName } from "./config/schema.ts";

/** A dropship server run on hosts: its binary is dropship-<name>. */
export type Service = "proxy" | "app" | "monitor";

export interface RoleRuns {
  /** the services its hosts run, each from the binary of the same name */
  services: Service[];
  /** the service whose /healthz says the host is up on a release, and the path */
  health: { service: Service; path: string };
}

/** What each role's hosts run: one table for setup, deploys, scaling, upgrades. */
export const ROLES: Record<RoleName, RoleRuns> = {
  proxy: {
    services: ["proxy", "monitor"],
    health: { service: "proxy", path: "/_dropship/healthz" },
  },
  redis: { services: ["monitor"], health: { service: "monitor", path: "/healthz" } },
  production: { services: ["app", "monitor"], health: { service: "app", path: "/healthz" } },
  staging: { services: ["app", "monitor"], health: { service: "app", path: "/healthz" } },
};

/** The platform's own servers: what `bun run upgrade` ships, the app being the user's. */
export const PLATFORM: readonly Service[] = ["proxy", "monitor"];

/**
 * Services replaced by a handover rather than restarted: they bind their ports with
 * SO_REUSEPORT, so the next process can listen before the last one stops.
 */
export const HANDED_OVER: readonly Service[] = ["proxy"];

export const binaryOf = (service: Service) => `dropship-${service}`;

export const portOf = (config: Pick<Config, "ports">, service: Service): number =>
  config.ports[service];

/** The URL whose JSON `version` says a host of the role runs a release. */
export const healthUrlOf = (config: Pick<Config, "ports">, role: RoleName, address: string) => {
  const { service, path } = ROLES[role].health;
  return `http://${address}:${portOf(config, service)}${path}`;
};
