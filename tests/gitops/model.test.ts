import { expect, test } from "bun:test";
import {
  addHost,
  EMPTY,
  fromYaml,
  missingHosts,
  nextName,
  removeHost,
  setDesired,
  setRelease,
  toYaml,
  wantedHosts,
} from "../../gitops/model.ts";

const host = (name: string, role: "production" | "staging" = "production") => ({
  name,
  role,
  dropletId: 1,
  address: "10.77.0.12",
  region: "nyc3",
  size: "s-1vcpu-1gb",
  created: "2026-11-26T09:00:00Z",
});

test("inventory edits are plain functions, and the file reads back as written", () => {
  let inventory = setDesired(addHost(EMPTY, host("shop-production-1")), "production", 2);
  inventory = setRelease(
    addHost(inventory, host("shop-staging-1", "staging")),
    "production",
    "abc123",
  );
  expect(nextName(inventory, "shop", "production")).toBe("shop-production-2");
  expect(fromYaml(toYaml(inventory))).toEqual(inventory);
  expect(toYaml(inventory)).toStartWith("# The fleet, as dropship left it: an Ansible inventory.");
  expect(removeHost(inventory, "shop-staging-1").hosts.map((h) => h.name)).toEqual([
    "shop-production-1",
  ]);
  expect(() => addHost(inventory, host("shop-production-1"))).toThrow(
    "shop-production-1 is already in the inventory",
  );
  expect(() => removeHost(inventory, "nope")).toThrow("nope is not in the inventory");
  // the load balancer in front of the proxies is recorded beside the hosts
  const balanced = {
    ...inventory,
    loadBalancer: { id: "lb-1", name: "shop-proxies", ip: "10.77.0.9" },
  };
  expect(fromYaml(toYaml(balanced))).toEqual(balanced);
  expect(toYaml(balanced)).toContain("dropship_load_balancer:");
});

test("setup plans only the hosts each role lacks, numbered after those that exist", () => {
  const wanted = wantedHosts({ roles: { production: { count: 3 }, staging: { count: 1 } } });
  expect(wanted).toEqual({ proxy: 1, redis: 1, production: 3, staging: 1 });
  expect(
    wantedHosts({
      roles: { proxy: { count: 2 }, production: { count: 1 }, staging: { count: 0 } },
    }).proxy,
  ).toBe(2);
  expect(missingHosts(EMPTY, "shop", wanted).map((h) => h.name)).toEqual([
    "shop-proxy-1",
    "shop-redis-1",
    "shop-production-1",
    "shop-production-2",
    "shop-production-3",
    "shop-staging-1",
  ]);
  const some = addHost(
    addHost(EMPTY, host("shop-production-2")),
    host("shop-staging-1", "staging"),
  );
  expect(missingHosts(some, "shop", wanted)).toEqual([
    { role: "proxy", name: "shop-proxy-1" },
    { role: "redis", name: "shop-redis-1" },
    { role: "production", name: "shop-production-1" },
    { role: "production", name: "shop-production-3" },
  ]);
  expect(missingHosts(some, "shop", { proxy: 0, redis: 0, production: 1, staging: 1 })).toEqual([]);
});
