import type { Config } from "../config/schema.ts";
import type { LoadBalancerRequest } from "./digitalocean.ts";
import { tagsFor } from "./spec.ts";

/** The proxies' health path, which answers before any routing (and without a Host). */
export const PROXY_HEALTH_PATH = "/_dropship/healthz";

/**
 * The load balancer in front of several proxies: every droplet with the proxy role's tag, HTTP
 * on 80 (it adds X-Forwarded-For, which the proxies trust from proxy.trusted_proxies) and TLS
 * passed through on 443, so the certificates stay with the proxies and ACME's HTTP-01 reaches
 * any of them. The health check is the proxy's own, at the API's shortest interval: a dead
 * proxy is out after two misses (6 s), back after two answers; in between HAProxy-style
 * retries move a refused connection to another proxy. With proxy.proxy_protocol, every
 * connection starts with a PROXY header, so the proxies know an HTTPS visitor's address too.
 */
export function loadBalancerFor(config: Config): LoadBalancerRequest {
  return {
    name: `${config.name}-proxies`,
    region: config.roles.proxy.region ?? config.digitalocean.region,
    tag: tagsFor(config, "proxy")[1] as string,
    ...(config.digitalocean.vpc_uuid ? { vpc_uuid: config.digitalocean.vpc_uuid } : {}),
    forwarding_rules: [
      {
        entry_protocol: "http",
        entry_port: 80,
        target_protocol: "http",
        target_port: config.ports.proxy,
      },
      {
        entry_protocol: "https",
        entry_port: 443,
        target_protocol: "https",
        target_port: 443,
        tls_passthrough: true,
      },
    ],
    enable_proxy_protocol: config.proxy.proxy_protocol,
    health_check: {
      protocol: "http",
      port: config.ports.proxy,
      path: PROXY_HEALTH_PATH,
      check_interval_seconds: 3,
      response_timeout_seconds: 3,
      healthy_threshold: 2,
      unhealthy_threshold: 2,
    },
  };
}
