import { expect, test } from "bun:test";
import { fleetRows } from "../../../server/shared/fleet-view.ts";

const now = Date.parse("2026-11-26T10:00:00Z");

test("one row per host joins the inventory, the monitors, the routing table and the proxy", () => {
  const rows = fleetRows({
    now,
    inventory: [
      {
        name: "shop-production-1",
        role: "production",
        dropletId: 7,
        address: "10.77.0.7",
        region: "nyc3",
        size: "s-1vcpu-1gb",
        release: "abc123",
        created: "2026-11-26T09:00:00Z",
      },
      {
        name: "shop-proxy-1",
        role: "proxy",
        dropletId: 5,
        address: "10.77.0.5",
        region: "nyc3",
        size: "s-1vcpu-1gb",
        created: "2026-11-26T09:00:00Z",
      },
    ],
    reports: [
      {
        host: "shop-production-1",
        role: "production",
        cpu: 41.6,
        memory: 30.2,
        at: now - 3000,
        release: "abc123",
      },
      {
        host: "laptop",
        role: "staging",
        cpu: 2,
        memory: 9,
        at: now - 1000,
        release: "dev",
        address: "10.77.0.9",
      },
    ],
    backends: [
      { id: "10.77.0.7:3000", url: "http://10.77.0.7:3000", track: "production", draining: false },
      { id: "127.0.0.1:3002", url: "http://127.0.0.1:3002", track: "staging", draining: true },
    ],
    proxy: [
      { id: "10.77.0.7:3000", healthy: true, reason: null, version: "abc123", inFlight: 3 },
      {
        id: "127.0.0.1:3002",
        healthy: false,
        reason: "connection refused",
        version: null,
        inFlight: 0,
      },
    ],
  });
  expect(rows.map((r) => [r.host, r.role])).toEqual([
    ["shop-proxy-1", "proxy"],
    ["shop-production-1", "production"],
    ["127.0.0.1:3002", "staging"],
    ["laptop", "staging"],
  ]);
  expect(rows[1]).toEqual({
    host: "shop-production-1",
    role: "production",
    address: "10.77.0.7",
    release: "abc123",
    rotation: "in rotation",
    health: "healthy",
    inFlight: "3",
    cpu: "42%",
    memory: "30%",
    seen: "3 s ago",
  });
  expect(rows[0]).toMatchObject({ rotation: "-", health: "-", cpu: "-" });
  // a host known only from its monitor is placed by the address the monitor reports
  expect(rows[3]).toMatchObject({ host: "laptop", address: "10.77.0.9", cpu: "2%" });
  expect(rows[2]).toMatchObject({ rotation: "draining", health: "down (connection refused)" });
});

test("without the proxy's view, health is unknown rather than assumed", () => {
  const [row] = fleetRows({
    now,
    inventory: [],
    reports: [],
    backends: [{ id: "a:1", url: "http://a:1", track: "production", draining: false }],
  });
  expect(row).toMatchObject({
    host: "a:1",
    role: "production",
    rotation: "in rotation",
    health: "-",
  });
});
