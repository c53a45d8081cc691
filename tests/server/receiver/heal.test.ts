import { expect, test } from "bun:test";
import type { FleetHostRecord } from "../../../gitops/model.ts";
import {
  type HostFacts,
  planHealing,
  STALE_SENTINEL_MS,
  sentinelsToRepoint,
} from "../../../server/receiver/heal.ts";
import type { RoleName } from "../../../server/shared/config/schema.ts";

const MIN = 60_000;
const NOW = 10 * MIN;
const host = (name: string, role: RoleName = "production"): FleetHostRecord => ({
  name,
  role,
  dropletId: name.length,
  address: `10.78.0.${name.length}`,
  region: "nyc3",
  size: "s-1vcpu-1gb",
  created: "2026-12-01T00:00:00Z",
});
const well = (h: FleetHostRecord): HostFacts => ({
  host: h,
  missingListings: 0,
  lastReportAt: NOW - 5_000,
  failingSince: null,
});
const SINGLE = { replica: false } as const;
const plan = (
  hosts: HostFacts[],
  extra: {
    busy?: RoleName[];
    breakerOpen?: boolean;
    redis?: Parameters<typeof planHealing>[1]["redis"];
  } = {},
) =>
  planHealing(2 * MIN, {
    now: NOW,
    hosts,
    busy: new Set(extra.busy ?? []),
    breakerOpen: extra.breakerOpen ?? false,
    redis: extra.redis ?? SINGLE,
  });
const names = (p: ReturnType<typeof plan>) => p.replace.map((r) => `${r.host.name}: ${r.why}`);

test("a droplet gone from two listings in a row is replaced; one missing listing is not enough", () => {
  const web = host("shop-production-1");
  expect(names(plan([{ ...well(web), missingListings: 1 }]))).toEqual([]);
  expect(names(plan([{ ...well(web), missingListings: 2 }]))).toEqual([
    "shop-production-1: gone from the cloud API",
  ]);
});

test("silent means both: no monitor figures and a failing health check, for heal.after", () => {
  const web = host("shop-production-1");
  const silent = { ...well(web), lastReportAt: NOW - 3 * MIN, failingSince: NOW - 2 * MIN };
  expect(names(plan([silent]))).toEqual([
    "shop-production-1: silent for 2 min: no monitor figures and its health check failing",
  ]);
  // not yet long enough
  expect(names(plan([{ ...silent, failingSince: NOW - MIN }]))).toEqual([]);
  // its monitor stopped, but it serves: alive, never replaced
  expect(names(plan([{ ...silent, failingSince: null }]))).toEqual([]);
  // overloaded: health failing, but the monitor still reports (high CPU): never replaced
  expect(names(plan([{ ...silent, lastReportAt: NOW - 5_000 }]))).toEqual([]);
  // never reported at all and failing long: silent
  expect(names(plan([{ ...silent, lastReportAt: undefined }]))).toHaveLength(1);
});

test("one replacement per role at a time, none while the breaker is open", () => {
  const gone = (h: FleetHostRecord) => ({ ...well(h), missingListings: 3 });
  const hosts = [
    gone(host("shop-production-1")),
    gone(host("shop-production-22")),
    gone(host("shop-proxy-1", "proxy")),
  ];
  expect(plan(hosts).replace.map((r) => r.host.name)).toEqual([
    "shop-production-1",
    "shop-proxy-1",
  ]);
  expect(plan(hosts, { busy: ["production"] }).replace.map((r) => r.host.name)).toEqual([
    "shop-proxy-1",
  ]);
  expect(plan(hosts, { breakerOpen: true }).replace).toEqual([]);
});

test("a lone Redis host is held, with why, not replaced empty", () => {
  const result = plan([{ ...well(host("shop-redis-1", "redis")), missingListings: 2 }]);
  expect(result.replace).toEqual([]);
  expect(result.held).toEqual([
    "shop-redis-1 is gone from the cloud API, but it is the only Redis server: replacing it would start the fleet's state empty — bring it back, or restore Redis from its dump",
  ]);
});

test("with a replica, a dead Redis host is replaced once Sentinel is done with it", () => {
  const redis = host("shop-redis-2", "redis");
  const gone = [{ ...well(redis), missingListings: 2 }];
  const sentinel = (primary: string | undefined, failingOver = false) => ({
    replica: true as const,
    primary,
    failingOver,
  });
  expect(plan(gone, { redis: sentinel(redis.address) }).held).toEqual([
    "shop-redis-2 is gone from the cloud API, but it is still the primary: waiting for Sentinel to move it",
  ]);
  expect(plan(gone, { redis: sentinel("10.78.0.99", true) }).held).toEqual([
    "shop-redis-2 is gone from the cloud API, but Sentinel is failing over: waiting until it is done",
  ]);
  expect(plan(gone, { redis: sentinel(undefined) }).replace).toEqual([]);
  expect(names(plan(gone, { redis: sentinel("10.78.0.99") }))).toEqual([
    "shop-redis-2: gone from the cloud API",
  ]);
});

test("a Sentinel naming another primary is pointed at the majority's once it has stayed behind", () => {
  const seen = (agreeing: number, stale: [string, number][], failingOver = false) => ({
    agreeing,
    quorum: 2,
    failingOver,
    staleSince: new Map(stale),
  });
  const lately = NOW - STALE_SENTINEL_MS + 1000;
  const long = NOW - STALE_SENTINEL_MS;
  // behind for a few seconds: a failover's switch still reaching it
  expect(sentinelsToRepoint(seen(3, [["10.78.0.5:26379", lately]]), NOW)).toEqual([]);
  expect(
    sentinelsToRepoint(
      seen(3, [
        ["10.78.0.5:26379", long],
        ["10.78.0.6:26379", lately],
      ]),
      NOW,
    ),
  ).toEqual(["10.78.0.5:26379"]);
  // not while the majority is failing over, below its quorum, or not more than the stale ones
  expect(sentinelsToRepoint(seen(3, [["10.78.0.5:26379", long]], true), NOW)).toEqual([]);
  expect(sentinelsToRepoint(seen(1, [["10.78.0.5:26379", long]]), NOW)).toEqual([]);
  const split: [string, number][] = [
    ["10.78.0.5:26379", long],
    ["10.78.0.6:26379", long],
  ];
  expect(sentinelsToRepoint(seen(2, split), NOW)).toEqual([]);
  expect(sentinelsToRepoint(seen(3, split), NOW)).toEqual(["10.78.0.5:26379", "10.78.0.6:26379"]);
});
