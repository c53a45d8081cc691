import { murmur3 } from "../shared/flags/murmur3.ts";
import type { Alert, Canary, Track } from "../shared/routing/model.ts";

/**
 * Why staging gets nothing right now, or undefined when the canary may take traffic:
 * aborted by a person or by analysis, or an alert that guards the canary is firing.
 */
export function canaryBlock(canary: Canary, alerts: Iterable<Alert>): string | undefined {
  if (canary.state === "aborted") return `aborted${canary.reason ? `: ${canary.reason}` : ""}`;
  for (const alert of alerts) {
    if (alert.canary) return `alert ${alert.id}: ${alert.summary}`;
  }
  if (canary.weight <= 0) return "weight is 0";
  return undefined;
}

/**
 * Which track a client goes to. The client's bucket (0–99) is a hash of the canary's
 * generation and the client's id, so a client keeps its track while the canary lasts, and
 * raising the weight only moves clients from production to staging, never back.
 */
export function chooseTrack(canary: Canary, blocked: boolean, clientId: string): Track {
  if (blocked) return "production";
  return canaryBucket(canary.generation, clientId) < canary.weight ? "staging" : "production";
}

export function canaryBucket(generation: string, clientId: string): number {
  return murmur3(`${generation}:${clientId}`) % 100;
}
