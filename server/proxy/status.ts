import type { FlagClient } from "../shared/flags/client.ts";
import { describeFlag } from "../shared/flags/model.ts";
import { escapeHtml } from "../shared/html.ts";
import type { Routing } from "./routing.ts";

export function statusOf(routing: Routing, flags: FlagClient, version: string) {
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
    },
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
    flags: flags.all().map((f) => ({
      name: f.name,
      state: describeFlag(f),
      rollout: f.rollout,
      enabled: f.enabled,
    })),
  };
}

/** A server-rendered page of the status, readable in any browser with no script. */
export function renderStatusPage(status: ReturnType<typeof statusOf>): string {
  const e = (value: unknown) => escapeHtml(String(value ?? ""));
  const rows = status.backends
    .map(
      (b) =>
        `<tr><td>${e(b.track)}</td><td>${e(b.id)}</td><td>${b.healthy ? "healthy" : `down: ${e(b.reason)}`}${b.draining ? " (draining)" : ""}</td><td>${e(b.version)}</td><td>${b.inFlight}</td></tr>`,
    )
    .join("");
  const canary = status.canary.stagingGetsTraffic
    ? `staging gets ${status.canary.weight}% of clients`
    : `staging gets nothing: ${e(status.canary.blockedBecause)}`;
  const flags = status.flags.map((f) => `<li>${e(f.name)}: ${e(f.state)}</li>`).join("");
  return `<!doctype html><meta charset="utf-8"><title>dropship</title>
<style>body{font:15px system-ui;margin:2em}td,th{padding:.2em .8em;text-align:left}</style>
<h1>dropship ${e(status.version)}</h1>
<p>Canary: ${canary}.${status.state.stale ? " <strong>Routing table may be stale: Redis unreachable.</strong>" : ""}</p>
<table><tr><th>track</th><th>backend</th><th>health</th><th>release</th><th>in flight</th></tr>${rows}</table>
<h2>Flags</h2><ul>${flags}</ul>
<h2>Alerts</h2><ul>${status.alerts.map((a) => `<li>${e(a.id)}: ${e(a.summary)}</li>`).join("") || "<li>none</li>"}</ul>
`;
}
