import type { FlagClient } from "../shared/flags/client.ts";
import { describeFlag } from "../shared/flags/model.ts";
import { describeSteps } from "../shared/routing/steps.ts";
import type { Routing } from "./routing.ts";

/** A certificate the proxy serves, as status and the dashboard show it. */
export interface CertificateView {
  domain: string;
  notAfter: string;
}

export function statusOf(
  routing: Routing,
  flags: FlagClient,
  version: string,
  certificates: CertificateView[] = [],
  /** the canary analysis's last word (its figures, or why it is not judging); null where none runs */
  analysis: string | null = null,
) {
  const { canary } = routing;
  return {
    version,
    state: routing.mirror.status(),
    canary: {
      weight: canary.weight,
      state: canary.state,
      reason: canary.reason,
      generation: canary.generation,
      stagingGetsTraffic: routing.blockedBecause === undefined,
      blockedBecause: routing.blockedBecause ?? null,
      since: new Date(routing.changedAt).toISOString(),
      /** where it is in canary/steps, in words; null without steps */
      steps: describeSteps(canary, Date.now()) ?? null,
      analysis,
    },
    maintenance: routing.maintenance
      ? { on: true, message: routing.maintenance.message }
      : { on: false, message: null },
    alerts: routing.alerts,
    backends: routing.pool.all().map((m) => ({
      id: m.backend.id,
      url: m.backend.url,
      track: m.backend.track,
      draining: m.backend.draining,
      healthy: m.health.healthy,
      reason: m.health.reason || null,
      version: m.health.version || null,
      inFlight: m.inFlight,
    })),
    certificates,
    flags: flags.all().map((f) => ({
      name: f.name,
      state: describeFlag(f),
      rollout: f.rollout,
      enabled: f.enabled,
    })),
  };
}
