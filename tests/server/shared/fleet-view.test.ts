import { expect, test } from "bun:test";
import {
  adminTargets,
  combineProxyViews,
  type FleetHostRecord,
  fleetRows,
} from "../../../server/shared/fleet-view.ts";

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

const proxyHost = (name: string, address: string): FleetHostRecord => ({
  name,
  role: "proxy",
  dropletId: 1,
  address,
  region: "nyc3",
  size: "s-1vcpu-1gb",
  created: "2026-11-26T09:00:00Z",
});

test("status asks every proxy of the inventory, on DASHBOARD_URL's scheme and port, else the site's", () => {
  const two = [proxyHost("shop-proxy-1", "10.78.0.12"), proxyHost("shop-proxy-3", "10.78.0.20")];
  // DASHBOARD_URL names the first proxy setup made, which may be gone since
  const env = {
    DASHBOARD_URL: "https://10.78.0.12:9090/_dropship/",
    PROXY_URL: "http://10.77.0.19",
  };
  expect(adminTargets(env, two, true, 9090)).toEqual([
    { name: "shop-proxy-1", origin: "https://10.78.0.12:9090" },
    { name: "shop-proxy-3", origin: "https://10.78.0.20:9090" },
  ]);
  expect(adminTargets({ DROPSHIP_ADMIN_PORT: "9191" }, two, false, 9090)).toEqual([
    { name: "shop-proxy-1", origin: "http://10.78.0.12:9191" },
    { name: "shop-proxy-3", origin: "http://10.78.0.20:9191" },
  ]);
  expect(adminTargets({}, two, true, 9090).map((t) => t.origin)).toEqual([
    "https://10.78.0.12:9090",
    "https://10.78.0.20:9090",
  ]);
  // no proxies in the inventory: DASHBOARD_URL as it is, or PROXY_URL's host on the admin port
  expect(adminTargets(env, [], true, 9090)).toEqual([{ origin: "https://10.78.0.12:9090" }]);
  expect(adminTargets({ PROXY_URL: "http://127.0.0.1:8080" }, [], false, 9090)).toEqual([
    { origin: "http://127.0.0.1:9090" },
  ]);
  expect(adminTargets({ PROXY_URL: "not a url" }, [], false, 9090)).toEqual([]);
  expect(adminTargets({}, [], false, 9090)).toEqual([]);
});

test("the proxies' views as one: in-flight summed, down when any proxy finds it down", () => {
  const backend = (id: string, inFlight: number, healthy = true, reason: string | null = null) => ({
    id,
    healthy,
    reason,
    version: id === "a" ? "rel-1" : null,
    inFlight,
  });
  const combined = combineProxyViews([
    [backend("a", 2), backend("b", 0)],
    [backend("a", 3), backend("b", 1, false, "connection refused"), backend("c", 4)],
  ]);
  expect(combined).toEqual([
    backend("a", 5),
    backend("b", 1, false, "connection refused"),
    backend("c", 4),
  ]);
  expect(combineProxyViews([])).toEqual([]);
});
