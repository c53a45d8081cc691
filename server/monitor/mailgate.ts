import type { Transition } from "./rules.ts";

export interface Notice {
  /** `cpu:web-1`, `memory:web-1`, `nodata:web-1` */
  alertId: string;
  host: string;
  transition: Transition;
  /** what the mail says about it */
  detail: string;
}

export interface GateState {
  lastSentAt: number | null;
  queued: Notice[];
  /** the state each alert was last mailed in */
  mailed: Record<string, "firing" | "resolved">;
}

export const NEW_GATE: GateState = { lastSentAt: null, queued: [], mailed: {} };

/** At most one mail per host per minute by default, whatever the samples do. */
export const MIN_GAP_MS = 60_000;

/**
 * Holds notices back so one host sends at most one mail a minute, and when it does, says only
 * what changed since the last mail: an alert that fired and resolved in between is no news.
 */
export function offer(gate: GateState, notice: Notice): GateState {
  const queued = gate.queued.filter(
    (n) => n.alertId !== notice.alertId || notice.transition === "repeat",
  );
  return { ...gate, queued: [...queued, notice] };
}

/** The notices to mail now, if the minute is up, and the gate after sending them. */
export function due(
  gate: GateState,
  now: number,
  gapMs = MIN_GAP_MS,
): { gate: GateState; send: Notice[] } {
  if (gate.queued.length === 0) return { gate, send: [] };
  if (gate.lastSentAt !== null && now - gate.lastSentAt < gapMs) return { gate, send: [] };
  const send = gate.queued.filter((notice) => {
    if (notice.transition === "repeat") return gate.mailed[notice.alertId] === "firing";
    const last = gate.mailed[notice.alertId] ?? "resolved";
    return notice.transition !== last;
  });
  const mailed = { ...gate.mailed };
  for (const notice of send)
    mailed[notice.alertId] = notice.transition === "resolved" ? "resolved" : "firing";
  return {
    gate: { queued: [], mailed, lastSentAt: send.length > 0 ? now : gate.lastSentAt },
    send,
  };
}

/**
 * An alert that ended where another mail tells of it (a host the heal replaced: the heal's
 * mail says so): nothing of it waits to be mailed, and it counts as mailed resolved, so no
 * later mail speaks of it as news.
 */
export function settle(gate: GateState, alertId: string): GateState {
  return {
    ...gate,
    queued: gate.queued.filter((n) => n.alertId !== alertId),
    mailed: { ...gate.mailed, [alertId]: "resolved" },
  };
}
