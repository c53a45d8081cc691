import type { Config, RoleName } from "./config/schema.ts";

/** A dropship server run on hosts: its binary is dropship-<name>. */
export type Service = "proxy" | "app" | "monitor";

export interface RoleRuns {
  /** the services its hosts run, each from the binary of the same name */
  services: Service[];
  /** the service whose health path says the host is up on a release */
  health: Service;
}

/** What each role's hosts run: one table for setup, deploys, scaling, upgrades. */
export const ROLES: Record<RoleName, RoleRuns> = {
  proxy: { services: ["proxy", "monitor"], health: "proxy" },
  redis: { services: ["monitor"], health: "monitor" },
  production: { services: ["app", "monitor"], health: "app" },
  staging: { services: ["app", "monitor"], health: "app" },
};

/** Every server some host runs: what a release carries (the receiver runs on the control host). */
export const RELEASED: readonly Service[] = [
  ...new Set(Object.values(ROLES).flatMap((role) => role.services)),
];

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

/** Where each service answers with its JSON `version` (the proxy keeps / for the app's paths). */
const HEALTH_PATH: Record<Service, string> = {
  proxy: "/_dropship/healthz",
  app: "/healthz",
  monitor: "/healthz",
};

/** The URL whose JSON `version` says a service on a host runs a release. */
export const serviceHealthUrl = (
  config: Pick<Config, "ports">,
  service: Service,
  address: string,
) => `http://${address}:${portOf(config, service)}${HEALTH_PATH[service]}`;

/** The same for the service that says a host of the role is up. */
export const healthUrlOf = (config: Pick<Config, "ports">, role: RoleName, address: string) =>
  serviceHealthUrl(config, ROLES[role].health, address);
