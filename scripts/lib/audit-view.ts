import { describeFlag, parseFlag } from "../../server/shared/flags/model.ts";
import { parseMaintenance } from "../../server/shared/routing/maintenance.ts";
import {
  type Canary,
  parseAlert,
  parseBackend,
  parseCanary,
} from "../../server/shared/routing/model.ts";
import type { AuditEntry } from "../../server/shared/state/audit.ts";

/**
 * What an audit entry changed, in a few words, a pure function: each kind of record read from
 * its old and new JSON (`off → on for 25%`, `weight 10% → 40%`, `raised: CPU 91% > 50%`), an
 * action (a command run, logs read, a backup) as the words it was recorded with.
 */
export function describeEntry(entry: AuditEntry): string {
  const { kind, old, new: now } = entry;
  if (kind === "flag") {
    const from = old ? parseFlag(old) : undefined;
    const to = now ? parseFlag(now) : undefined;
    return `${from ? describeFlag(from) : "new"} → ${to ? describeFlag(to) : now ? "?" : "removed"}`;
  }
  if (kind === "canary") return canaryChange(old ? parseCanary(old) : undefined, parseCanary(now));
  if (kind === "backend") {
    const from = old ? parseBackend(old) : undefined;
    const to = now ? parseBackend(now) : undefined;
    if (!to) return from ? `removed (${from.track})` : "removed";
    if (!from) return `added to ${to.track}: ${to.url}`;
    if (from.draining !== to.draining) return to.draining ? "draining" : "back in rotation";
    return `${to.track}: ${to.url}`;
  }
  if (kind === "alert") {
    const raised = now ? parseAlert(now) : undefined;
    if (raised) return `raised: ${raised.summary}`;
    const cleared = old ? parseAlert(old) : undefined;
    return cleared ? `cleared: ${cleared.summary}` : "cleared";
  }
  if (kind === "maintenance") {
    const to = parseMaintenance(now || undefined);
    if (!to) return now ? "?" : "removed";
    return to.on ? `on: ${to.message}` : "off";
  }
  // an action: its words are in `new`
  return old === "" ? now : `${old} → ${now}`;
}

function canaryChange(from: Canary | undefined, to: Canary): string {
  if (!from || from.generation !== to.generation)
    return `new canary ${to.generation} at ${to.weight}%${to.state === "aborted" ? ", aborted" : ""}`;
  const parts: string[] = [];
  if (from.weight !== to.weight) parts.push(`weight ${from.weight}% → ${to.weight}%`);
  if (from.state !== to.state)
    parts.push(`${to.state}${to.reason && to.reason !== from.reason ? ` (${to.reason})` : ""}`);
  const steps = to.steps?.length;
  if (steps && to.step !== undefined && from.step !== to.step)
    parts.push(`step ${to.step + 1} of ${steps}`);
  if (from.stepState !== to.stepState && to.stepState && to.stepState !== "running")
    parts.push(`steps ${to.stepState}`);
  return parts.join(", ") || "unchanged";
}
