import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse } from "yaml";
import { validateConfig } from "../../server/shared/config/validate.ts";
import { HOST_ROOT } from "../../server/shared/host/layout.ts";
import { ROLES } from "../../server/shared/roles.ts";
import { redisMemoryEnv } from "../../server/shared/state/redis-memory.ts";

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

test("the playbooks' host root is the one the deploy code writes its commands for", () => {
  const defaults = parse(
    readFileSync(join(ANSIBLE, "roles/dropship_host/defaults/main.yml"), "utf8"),
  ) as { dropship_host_root: string };
  expect(defaults.dropship_host_root).toBe(HOST_ROOT);
});

test("every role but the base depends on it, and no role spells the host root out", () => {
  for (const role of readdirSync(join(ANSIBLE, "roles")).filter((r) => r !== "dropship_host")) {
    const meta = parse(readFileSync(join(ANSIBLE, "roles", role, "meta/main.yml"), "utf8")) as {
      dependencies: { role: string }[];
    };
    expect(meta.dependencies).toEqual([{ role: "dropship_host" }]);
  }
  const spelled = Bun.spawnSync([
    "grep",
    "-rl",
    HOST_ROOT,
    join(ANSIBLE, "roles"),
    join(ANSIBLE, "vars"),
  ])
    .stdout.toString()
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((file) => file.slice(ANSIBLE.length + 1));
  // the defaults name it once (and their README); the host's service script is a file, not a template
  expect(spelled.sort()).toEqual([
    "roles/dropship_host/README.md",
    "roles/dropship_host/defaults/main.yml",
    "roles/dropship_host/files/dropship-service",
  ]);
});

test("the Redis role's memory settings, unset, are dropship.yml's defaults", () => {
  const defaults = parse(
    readFileSync(join(ANSIBLE, "roles/dropship_redis/defaults/main.yml"), "utf8"),
  ) as Record<string, string>;
  const config = validateConfig({});
  if (!config.ok) throw new Error(config.errors.join("; "));
  const fallback = (name: string) =>
    /\| default\('([^']+)', true\)/.exec(defaults[name] ?? "")?.[1];
  expect(fallback("dropship_redis_maxmemory")).toBe(String(config.config.redis.maxmemory));
  expect(fallback("dropship_redis_maxmemory_policy")).toBe(config.config.redis.maxmemory_policy);
  // and setup hands the config's values over in the variables the role reads
  expect(defaults.dropship_redis_maxmemory).toContain(
    `'${Object.keys(redisMemoryEnv(config.config.redis))[0]}'`,
  );
  expect(defaults.dropship_redis_maxmemory_policy).toContain(
    `'${Object.keys(redisMemoryEnv(config.config.redis))[1]}'`,
  );
});
