import type { Backend, Track } from "../shared/routing/model.ts";
import {
  afterCheck,
  afterConnectionFailure,
  type CheckResult,
  type Health,
  UNCHECKED,
} from "./health.ts";
import { LinkedSet } from "./linked-set.ts";
import type { Exchange, Origin } from "./upstream/client.ts";

/** A backend URL (http://host:port, checked when it was stored) as the client dials it. */
export function originOf(url: string): Origin {
  const parsed = new URL(url);
  return {
    hostname: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: Number(parsed.port || 80),
    host: parsed.host,
  };
}

/** Told when a backend leaves or rejoins the rotation, and why. */
export type RotationListener = (member: Member, inRotation: boolean, cause: string) => void;

export interface Member {
  backend: Backend;
  /** where the upstream client connects: fixed, since a new URL makes a new member */
  origin: Origin;
  health: Health;
  inFlight: number;
  /**
   * Requests sent here that may be repeated and have no answer yet: when the backend leaves
   * the rotation (failed checks, or a connection that failed) each is told, and goes to another
   * backend instead of waiting out the response timeout on a host that went silent.
   */
  waiting: LinkedSet<Exchange>;
}

/** Why a waiting exchange was cancelled when its backend left the rotation. */
export const LEFT_ROTATION = "its backend left the rotation";

/**
 * The backends the proxy routes to, with their health and in-flight counts. Picks the
 * healthy, non-draining member of a track with the fewest requests in flight, taking turns
 * among equals.
 */
export class Pool {
  private members = new Map<string, Member>();
  private list: Member[] = [];
  private readonly byTrack: Record<Track, Member[]> = { production: [], staging: [] };
  private readonly turns: Record<Track, number> = { production: 0, staging: 0 };

  constructor(private readonly onRotation: RotationListener = () => {}) {}

  /** Replaces the table, keeping health and counts of backends that stay. */
  setBackends(backends: Iterable<Backend>): Member[] {
    const next = new Map<string, Member>();
    const added: Member[] = [];
    for (const backend of backends) {
      const known = this.members.get(backend.id);
      if (known && known.backend.url === backend.url) {
        if (known.backend.draining !== backend.draining && known.health.healthy) {
          this.onRotation(
            known,
            !backend.draining,
            backend.draining ? "drained in the routing table" : "undrained in the routing table",
          );
        }
        known.backend = backend;
        next.set(backend.id, known);
      } else {
        const member: Member = {
          backend,
          origin: originOf(backend.url),
          health: UNCHECKED,
          inFlight: 0,
          waiting: new LinkedSet(),
        };
        next.set(backend.id, member);
        added.push(member);
      }
    }
    this.members = next;
    this.list = [...next.values()];
    this.byTrack.production = this.list.filter((m) => m.backend.track === "production");
    this.byTrack.staging = this.list.filter((m) => m.backend.track === "staging");
    return added;
  }

  all(): Member[] {
    return this.list;
  }

  get(id: string): Member | undefined {
    return this.members.get(id);
  }

  pick(track: Track, exclude?: Set<string>): Member | undefined {
    let best: Member | undefined;
    const list = this.byTrack[track];
    const n = list.length;
    const turn = (this.turns[track] + 1) % Math.max(1, n);
    this.turns[track] = turn;
    for (let i = 0; i < n; i++) {
      const member = list[(turn + i) % n] as Member;
      const { backend, health } = member;
      if (backend.draining || !health.healthy) continue;
      if (exclude?.has(backend.id)) continue;
      if (!best || member.inFlight < best.inFlight) best = member;
    }
    return best;
  }

  /** How many members of a track could take a request now. */
  available(track: Track): number {
    let count = 0;
    for (const { backend, health } of this.byTrack[track]) {
      if (!backend.draining && health.healthy) count++;
    }
    return count;
  }

  recordCheck(id: string, result: CheckResult): void {
    const member = this.members.get(id);
    if (member) this.setHealth(member, afterCheck(member.health, result));
  }

  /** Told of every failed connection (a worker passes them on to its supervisor). */
  onConnectionFailure: ((id: string, reason: string) => void) | undefined;

  recordConnectionFailure(id: string, reason: string): void {
    this.onConnectionFailure?.(id, reason);
    const member = this.members.get(id);
    if (member) this.setHealth(member, afterConnectionFailure(member.health, reason));
  }

  private setHealth(member: Member, health: Health): void {
    const was = member.health.healthy;
    member.health = health;
    if (was && !health.healthy && member.waiting.size > 0) {
      for (const exchange of member.waiting.drain()) exchange.cancel(LEFT_ROTATION);
    }
    if (was === health.healthy || member.backend.draining) return;
    this.onRotation(member, health.healthy, health.healthy ? "health check passed" : health.reason);
  }
}
