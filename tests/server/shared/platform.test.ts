import { expect, test } from "bun:test";
import { changedServices, formatSources, parseSources } from "../../../server/shared/platform.ts";
import { healthUrlOf, ROLES } from "../../../server/shared/roles.ts";

const sources = (proxy: string, monitor: string) =>
  new Map([
    ["dropship-proxy", proxy],
    ["dropship-monitor", monitor],
  ]);

test("SOURCES round-trips, and lines that are not digests are ignored", () => {
  const written = sources("a".repeat(32), "b".repeat(32));
  expect(parseSources(formatSources(written))).toEqual(written);
  expect(parseSources("garbage\n\n1234  dropship-app\n").size).toBe(0);
});

test("only the services whose code differs are changed; a host that knows nothing changes all", () => {
  const release = sources("a".repeat(32), "b".repeat(32));
  expect(changedServices(["proxy", "monitor"], release, release)).toEqual([]);
  expect(
    changedServices(["proxy", "monitor"], sources("c".repeat(32), "b".repeat(32)), release),
  ).toEqual(["proxy"]);
  expect(changedServices(["proxy", "monitor"], new Map(), release)).toEqual(["proxy", "monitor"]);
});

test("each role's health URL is its health service's port and path", () => {
  const ports = { proxy: 80, app: 3000, monitor: 9100, receiver: 9000, redis: 6379 };
  expect(healthUrlOf({ ports }, "proxy", "10.0.0.5")).toBe("http://10.0.0.5:80/_dropship/healthz");
  expect(healthUrlOf({ ports }, "redis", "10.0.0.6")).toBe("http://10.0.0.6:9100/healthz");
  expect(healthUrlOf({ ports }, "production", "10.0.0.7")).toBe("http://10.0.0.7:3000/healthz");
  expect(ROLES.proxy.services).toEqual(["proxy", "monitor"]);
});
