import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse } from "yaml";
import { ROLES } from "../../server/shared/roles.ts";

const ANSIBLE = resolve(import.meta.dir, "../../ansible");

interface Play {
  hosts: string;
  roles: { role: string; vars?: { dropship_service_name?: string } }[];
}

/** Each play's hosts and the services its dropship_service roles set up. */
function servicesOfPlays(): Record<string, string[]> {
  const found: Record<string, string[]> = {};
  for (const file of readdirSync(ANSIBLE).filter((f) => f.endsWith(".yml"))) {
    const plays = parse(readFileSync(join(ANSIBLE, file), "utf8")) as Play[] | null;
    if (!Array.isArray(plays)) continue;
    for (const play of plays) {
      const services = (play.roles ?? [])
        .filter((r) => r.role === "dropship_service")
        .map((r) => r.vars?.dropship_service_name ?? "app");
      if (services.length > 0) found[play.hosts] = services;
    }
  }
  return found;
}

test("the playbooks set up exactly the services the ROLES table says each role runs", () => {
  const table = Object.fromEntries(
    Object.entries(ROLES).map(([role, runs]) => [role, [...runs.services]]),
  );
  expect(servicesOfPlays()).toEqual(table);
});
