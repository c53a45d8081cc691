import type { RoleName } from "../config/schema.ts";
import { redisPasswordFor } from "./acl.ts";
import {
  isSentinelUrl,
  parseSentinelUrl,
  type SentinelTarget,
  sentinelUrl,
} from "./sentinel-url.ts";

/** The name the Sentinels know the fleet's primary by. */
export const SENTINEL_NAME = "dropship";
export const SENTINEL_PORT = 26379;
/**
 * The Sentinels' timings, as ansible's sentinel.conf.j2 writes them for a new Sentinel (a unit
 * test holds the two alike). Sentinel keeps its file from then on, so a fleet set up by an
 * older dropship keeps that one's until setup gives them again (alignSentinelTimings).
 */
export const SENTINEL_TIMINGS: Readonly<Record<string, string>> = {
  "down-after-milliseconds": "3000",
  "failover-timeout": "3000",
  "parallel-syncs": "1",
};

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

/** `url` naming the Sentinels there are now (see currentSentinels); any other URL as it is. */
export function withCurrentSentinels(
  url: string,
  hosts: readonly { role: RoleName; address: string }[],
): string {
  return isSentinelUrl(url) ? sentinelUrl(currentSentinels(url, hosts)) : url;
}

/**
 * The `sentinels=` value a URL has for these Sentinel hosts, as it is written in one (encoded).
 * Only an address's characters and the encoding's `%` can be in it, so it is safe in a shell
 * command and a sed pattern.
 */
export function sentinelsParam(hosts: readonly { role: RoleName; address: string }[]): string {
  const url = new URL("redis-sentinel://x/0");
  url.searchParams.set(
    "sentinels",
    sentinelHosts(hosts)
      .map((h) => `${h.address}:${SENTINEL_PORT}`)
      .join(","),
  );
  const value = url.search.slice("?sentinels=".length);
  if (!/^[A-Za-z0-9.%_-]+$/.test(value)) throw new Error(`no Sentinel hosts to name (${value})`);
  return value;
}

/**
 * A settings file's text with every Sentinel URL's `sentinels=` value replaced by `param`:
 * the hosts' service settings and the control machine's fleet.env, after a Sentinel host was
 * replaced. Nothing else in the text changes.
 */
export function repointSentinelsIn(text: string, param: string): string {
  return text.replace(
    /(redis-sentinel:\/\/[^\s'"]*?[?&]sentinels=)[^&\s'"]*/g,
    (_, head: string) => `${head}${param}`,
  );
}
