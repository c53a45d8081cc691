import type { RoleName } from "../config/schema.ts";
import { redisPasswordFor } from "./acl.ts";
import { parseSentinelUrl, type SentinelTarget, sentinelUrl } from "./sentinel-url.ts";

/** The name the Sentinels know the fleet's primary by. */
export const SENTINEL_NAME = "dropship";
export const SENTINEL_PORT = 26379;

/**
 * Where the Sentinels run: on every Redis host and every proxy host. Two Redis hosts and one
 * proxy make the three a quorum of 2 needs; the proxies are in the VPC, always there, and do
 * not fail with the Redis hosts.
 */
export function sentinelHosts<H extends { role: RoleName; address: string }>(
  hosts: readonly H[],
): H[] {
  return [...hosts.filter((h) => h.role === "redis"), ...hosts.filter((h) => h.role === "proxy")];
}

/** The control user's URL through the Sentinels (every other user's is made from it). */
export function controlSentinelUrl(
  master: string,
  hosts: readonly { role: RoleName; address: string }[],
): string {
  const target: SentinelTarget = {
    username: "control",
    password: master,
    name: SENTINEL_NAME,
    db: 0,
    sentinels: sentinelHosts(hosts).map((h) => ({ host: h.address, port: SENTINEL_PORT })),
    sentinelPassword: redisPasswordFor(master, "sentinel-clients"),
  };
  return sentinelUrl(target);
}

/** What the playbooks need to run Redis with a replica and the Sentinels. */
export function sentinelPlaybookEnv(master: string, primary: string): Record<string, string> {
  return {
    DROPSHIP_REDIS_SENTINEL: "1",
    DROPSHIP_REDIS_PRIMARY: primary,
    DROPSHIP_SENTINEL_PASSWORD: redisPasswordFor(master, "sentinel-clients"),
    DROPSHIP_SENTINEL_AUTH: redisPasswordFor(master, "sentinel"),
    DROPSHIP_REDIS_REPLICA_AUTH: redisPasswordFor(master, "replica"),
  };
}

/**
 * A Sentinel URL's target with the Sentinels there are now — the inventory's Redis and proxy
 * hosts — in place of those the URL was made with: replaced hosts take their Sentinels with
 * them, and after a few losses none of the URL's may be left.
 */
export function currentSentinels(
  url: string,
  hosts: readonly { role: RoleName; address: string }[],
): SentinelTarget {
  const target = parseSentinelUrl(url);
  const now = sentinelHosts(hosts).map((h) => ({ host: h.address, port: SENTINEL_PORT }));
  if (now.length > 0) target.sentinels = now;
  return target;
}
