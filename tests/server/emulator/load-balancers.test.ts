import { expect, test } from "bun:test";
import {
  checkLoadBalancerBody,
  haproxyConfig,
  targetsOf,
} from "../../../server/emulator/load-balancers.ts";
import { loadBalancerFor } from "../../../server/shared/cloud/load-balancer.ts";
import { validateConfig } from "../../../server/shared/config/validate.ts";

const checked = validateConfig({
  name: "shop",
  roles: { proxy: { count: 2 } },
  proxy: { trusted_proxies: ["10.78.0.0/16"] },
});
if (!checked.ok) throw new Error(checked.errors.join("\n"));
const request = loadBalancerFor(checked.config);
const paths = { socket: "/run/lb/admin.sock", stateFile: "/run/lb/servers.state" };

test("dropship asks for HTTP on 80, TLS passed through on 443 and the proxy's health check", () => {
  expect(request).toMatchObject({
    name: "shop-proxies",
    region: "nyc3",
    tag: "dropship:proxy",
    forwarding_rules: [
      { entry_protocol: "http", entry_port: 80, target_port: 80 },
      { entry_protocol: "https", entry_port: 443, tls_passthrough: true },
    ],
    health_check: { protocol: "http", path: "/_dropship/healthz", check_interval_seconds: 3 },
  });
  expect(request.enable_proxy_protocol).toBe(false);
  const withProxyProtocol = { ...checked.config.proxy, proxy_protocol: true };
  expect(
    loadBalancerFor({ ...checked.config, proxy: withProxyProtocol }).enable_proxy_protocol,
  ).toBe(true);
  // and the emulator takes it as the API would, defaults filled in
  const body = checkLoadBalancerBody(request, () => true);
  if (!body.ok) throw new Error(body.message);
  expect(body.value).toMatchObject({
    http_idle_timeout_seconds: 60,
    enable_proxy_protocol: false,
    droplet_ids: [],
  });
});

test("the API's fields become HAProxy's: frontends per rule, checks, retries", () => {
  const body = checkLoadBalancerBody(request, () => true);
  if (!body.ok) throw new Error(body.message);
  const targets = targetsOf(body.value, [
    { id: 7, privateIp: "10.78.0.12", tags: ["dropship", "dropship:proxy"] },
    { id: 8, privateIp: "10.78.0.13", tags: ["dropship", "dropship:production"] },
  ]);
  expect(targets.map((t) => t.id)).toEqual([7]);
  const config = haproxyConfig(body.value, "10.77.0.20", targets, paths);
  expect(config).toContain("  bind 10.77.0.20:80\n  mode http\n  option forwardfor\n");
  expect(config).toContain("  bind 10.77.0.20:443\n  mode tcp\n");
  expect(config).toContain("  default-server inter 3s fall 2 rise 2\n");
  expect(config).toContain("  timeout check 3s\n");
  expect(config).toContain("  option redispatch\n");
  expect(config).toContain("  http-check send meth GET uri /_dropship/healthz\n");
  expect(config).toContain("  server droplet-7 10.78.0.12:80 check port 80\n");
  // one health check per target: the 443 servers follow the 80 ones
  expect(config).toContain("  server droplet-7 10.78.0.12:443 track rule0/droplet-7\n");
  expect(config).not.toContain("10.78.0.13");
  const proxied = checkLoadBalancerBody({ ...request, enable_proxy_protocol: true }, () => true);
  if (!proxied.ok) throw new Error(proxied.message);
  expect(haproxyConfig(proxied.value, "10.77.0.20", targets, paths)).toContain(
    "track rule0/droplet-7 send-proxy",
  );
});

test("what the API refuses is said with the field and the fix", () => {
  const refused = (body: unknown, exists = true) => {
    const result = checkLoadBalancerBody(body, () => exists);
    return result.ok ? "accepted" : result.message;
  };
  expect(refused({ ...request, name: "" })).toContain("name must be present");
  expect(refused({ ...request, region: "mars1" })).toBe('region "mars1" is not a valid region');
  expect(refused({ ...request, tag: "", droplet_ids: [5] }, false)).toBe(
    "droplet 5 does not exist",
  );
  expect(
    refused({
      ...request,
      forwarding_rules: [request.forwarding_rules[0], request.forwarding_rules[0]],
    }),
  ).toBe("entry_port 80 is used by more than one forwarding rule");
  expect(
    refused({ ...request, health_check: { ...request.health_check, unhealthy_threshold: 11 } }),
  ).toBe("health_check unhealthy_threshold must be an integer from 2 to 10");
  expect(refused({ ...request, health_check: { ...request.health_check, path: "/a b" } })).toBe(
    "health_check path must start with / and hold no spaces",
  );
  expect(refused({ ...request, http_idle_timeout_seconds: 5 })).toBe(
    "http_idle_timeout_seconds must be an integer from 30 to 600",
  );
});
