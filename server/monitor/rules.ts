export type Metric = "cpu" | "memory" | "disk";

export interface Rule {
  metric: Metric;
  /** fires above this percent ... */
  threshold: number;
  /** ... and clears only below this one */
  clearBelow: number;
  /** the breach must last this long before it fires */
  forMs: number;
  /** while firing, say so again after this long */
  repeatMs: number;
}

export type Phase = "ok" | "pending" | "firing";

export interface RuleState {
  phase: Phase;
  /** when the current breach began */
  since: number | null;
  /** when the last fired or repeated notice was issued */
  notifiedAt: number | null;
  value: number | null;
}

export const INITIAL: RuleState = { phase: "ok", since: null, notifiedAt: null, value: null };

export type Transition = "firing" | "resolved" | "repeat";

export interface Step {
  state: RuleState;
  /** what a person should be told, if anything */
  transition?: Transition;
}

/**
 * One sample through one rule, Prometheus-style: above the threshold it is pending, and it
 * fires once it has stayed above for `forMs`; a pending breach that ends is forgotten; a
 * firing alert clears only below `clearBelow` (hysteresis) and repeats every `repeatMs`.
 */
export function step(rule: Rule, state: RuleState, value: number, at: number): Step {
  const above = value > rule.threshold;
  switch (state.phase) {
    case "ok":
    case "pending": {
      if (!above) return { state: { ...INITIAL, value } };
      const since = state.phase === "pending" && state.since !== null ? state.since : at;
      if (at - since >= rule.forMs) {
        return { state: { phase: "firing", since, notifiedAt: at, value }, transition: "firing" };
      }
      return { state: { phase: "pending", since, notifiedAt: null, value } };
    }
    case "firing": {
      if (value < rule.clearBelow) return { state: { ...INITIAL, value }, transition: "resolved" };
      if (state.notifiedAt !== null && at - state.notifiedAt >= rule.repeatMs) {
        return { state: { ...state, notifiedAt: at, value }, transition: "repeat" };
      }
      return { state: { ...state, value } };
    }
  }
}

export interface SilenceState {
  silent: boolean;
  since: number | null;
}

/**
 * A host that stops reporting is an alert of its own ("no data"), fired once it has been
 * silent for `noDataMs` and resolved by its next sample — its other alerts stay as they were.
 * A host the heal is replacing is not raised: the heal mails what it found and what it did,
 * and a failed heal ends the mark, so the silence is raised then. A silence raised before the
 * heal began stays raised.
 */
export function checkSilence(
  state: SilenceState,
  lastSeen: number,
  now: number,
  noDataMs: number,
  beingReplaced = false,
): { state: SilenceState; transition?: Transition } {
  const silentNow = now - lastSeen >= noDataMs;
  if (silentNow && !state.silent && beingReplaced) return { state };
  if (silentNow && !state.silent)
    return { state: { silent: true, since: lastSeen }, transition: "firing" };
  if (!silentNow && state.silent)
    return { state: { silent: false, since: null }, transition: "resolved" };
  return { state };
}
