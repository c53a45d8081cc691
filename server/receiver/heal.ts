import type { FleetHostRecord } from "../../gitops/model.ts";
import type { RoleName } from "../shared/config/schema.ts";

/** What the healer knows of one host of the inventory at one moment. */
export interface HostFacts {
  host: FleetHostRecord;
  /**
   * how many listings in a row lacked its droplet (0: listed); a droplet is gone only when two
   * did, so a host scale-in is removing, or a listing made mid-change, is not taken for dead (the
   * healer counts the API's 404 for the droplet by id as the second)
   */
  missingListings: number;
  /** when its monitor last reported figures (undefined: never) */
  lastReportAt: number | undefined;
  /** since when its health check has failed without a pass (null: passing) */
  failingSince: number | null;
}

export interface HealInput {
  now: number;
  hosts: HostFacts[];
  /** roles with a replacement under way: one at a time per role */
  busy: ReadonlySet<RoleName>;
  /** the provisioning breaker is open: nothing is replaced */
  breakerOpen: boolean;
  /**
   * Redis as the Sentinels see it: a single server is never replaced (the data would be
   * gone); with a replica, the primary only once Sentinel has moved it, never mid-failover
   */
  redis: { replica: false } | { replica: true; primary: string | undefined; failingOver: boolean };
}

export interface Replacement {
  host: FleetHostRecord;
  /** why, for the commit, the log and the mail */
  why: string;
}

export interface HealPlan {
  replace: Replacement[];
  /** hosts that would be replaced but are not, and why not: said once by the caller */
  held: string[];
}

const duration = (ms: number) =>
  ms >= 60_000 && ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`;

/**
 * Which hosts to replace, a pure function. A host is replaced when its droplet is gone from the
 * cloud API (two listings in a row), or when it has been silent for `afterMs`: no monitor
 * figures and a failing health check, both for that long. A host whose monitor still reports
 * (busy, overloaded) or whose health check passes is never replaced. At most one replacement
 * per role at a time; nothing while the breaker is open; a Redis host only when a replica holds
 * the data and Sentinel is done with it.
 */
export function planHealing(afterMs: number, input: HealInput): HealPlan {
  const replace: Replacement[] = [];
  const held: string[] = [];
  if (input.breakerOpen) return { replace, held };
  const claimed = new Set<RoleName>(input.busy);
  for (const facts of input.hosts) {
    const why = reasonToReplace(afterMs, input.now, facts);
    if (!why) continue;
    const { host } = facts;
    if (host.role === "redis") {
      const hold = redisHold(input.redis, host.address);
      if (hold) {
        held.push(`${host.name} is ${why}, but ${hold}`);
        continue;
      }
    }
    if (claimed.has(host.role)) continue;
    claimed.add(host.role);
    replace.push({ host, why });
  }
  return { replace, held };
}

function redisHold(redis: HealInput["redis"], address: string): string | undefined {
  if (!redis.replica)
    return "it is the only Redis server: replacing it would start the fleet's state empty — bring it back, or restore Redis from its dump";
  if (redis.failingOver) return "Sentinel is failing over: waiting until it is done";
  if (redis.primary === undefined) return "no Sentinel names the primary: waiting";
  if (redis.primary === address) return "it is still the primary: waiting for Sentinel to move it";
  return undefined;
}

function reasonToReplace(afterMs: number, now: number, facts: HostFacts): string | undefined {
  if (facts.missingListings >= 2) return "gone from the cloud API";
  const reporting = facts.lastReportAt !== undefined && now - facts.lastReportAt < afterMs;
  const failingLong = facts.failingSince !== null && now - facts.failingSince >= afterMs;
  if (!reporting && failingLong)
    return `silent for ${duration(afterMs)}: no monitor figures and its health check failing`;
  return undefined;
}

/**
 * How long a Sentinel may name another primary than the majority before it is pointed at theirs:
 * after a failover every Sentinel switches within seconds, so one still behind after this lost
 * touch and would stay behind (and a later failover would miss its vote).
 */
export const STALE_SENTINEL_MS = 30_000;

export interface SentinelsSeen {
  /** the Sentinels naming the majority's primary, and the quorum they need */
  agreeing: number;
  quorum: number;
  failingOver: boolean;
  /** each stale Sentinel ("host:port") and since when it has been seen stale */
  staleSince: ReadonlyMap<string, number>;
}

/**
 * Which stale Sentinels to point at the majority's primary now, a pure function: those stale for
 * `forMs`, and only while a quorum of Sentinels, more than the stale ones, agree on a primary
 * that is not failing over — the majority is then surely right.
 */
export function sentinelsToRepoint(seen: SentinelsSeen, now: number, forMs = STALE_SENTINEL_MS) {
  const stale = [...seen.staleSince];
  if (seen.failingOver || seen.agreeing < seen.quorum || seen.agreeing <= stale.length) return [];
  return stale.filter(([, since]) => now - since >= forMs).map(([sentinel]) => sentinel);
}
