export interface ScalePolicy {
  upAbove: number;
  downBelow: number;
  /** how long the metric must stay past a threshold */
  forMs: number;
  /** least time between two scaling actions */
  cooldownMs: number;
  min: number;
  max: number;
  /** failed provisions in a row before the autoscaler stops trying */
  maxFailures: number;
}

export interface ScaleState {
  breach: { direction: "up" | "down"; since: number } | null;
  lastActionAt: number | null;
  failures: number;
}

export const IDLE: ScaleState = { breach: null, lastActionAt: null, failures: 0 };

export interface Observation {
  now: number;
  /** the watched metric: proxy CPU %, production CPU % or requests/s per host */
  value: number;
  metric: string;
  /** production hosts, those still booting counted as capacity */
  hosts: number;
  deploying: boolean;
}

export interface Decision {
  state: ScaleState;
  action: "add" | "remove" | "none";
  /** the decision with its numbers, for the log */
  why: string;
}

const seconds = (ms: number) => `${Math.round(ms / 1000)}s`;

/**
 * A metric's value as the log shows it: with its tenth, so that rounding does not hide which
 * side of a bound it is on (`14.6 < 15`, not `15 < 15`); with as many more places as it takes
 * when the tenth would round onto a bound (`14.96`, not `15.0 < 15`).
 */
export function figure(value: number, bounds: readonly number[] = []): string {
  if (Number.isInteger(value)) return String(value);
  for (let places = 1; places < 6; places++) {
    const shown = value.toFixed(places);
    if (!bounds.includes(Number(shown))) return shown;
  }
  return String(value);
}

/**
 * The autoscaler's rule, a pure function: out when the metric stays above `upAbove` for
 * `forMs`, in when it stays below `downBelow`; never beyond min and max (max is a hard cap),
 * at most one action per cooldown, nothing during a deploy, and nothing at all once
 * `maxFailures` provisions in a row have failed.
 */
export function decide(policy: ScalePolicy, state: ScaleState, o: Observation): Decision {
  const none = (why: string, next: ScaleState = state): Decision => ({
    state: next,
    action: "none",
    why,
  });
  if (state.failures >= policy.maxFailures) {
    return none(
      `stopped: ${state.failures} failed provisions in a row — fix the cause, then restart the receiver to reset it`,
    );
  }
  if (o.deploying) return none("waiting: a deploy is running");
  const cooling = state.lastActionAt !== null && o.now - state.lastActionAt < policy.cooldownMs;
  const act = (action: "add" | "remove", why: string): Decision =>
    cooling
      ? none(
          `cooling down: ${why}; next action after ${seconds(policy.cooldownMs - (o.now - (state.lastActionAt ?? 0)))}`,
        )
      : { state: { ...state, breach: null, lastActionAt: o.now }, action, why };
  if (o.hosts < policy.min) return act("add", `scale out: ${o.hosts} hosts < min ${policy.min}`);
  if (o.hosts > policy.max) return act("remove", `scale in: ${o.hosts} hosts > max ${policy.max}`);

  const direction: "up" | "down" | null =
    o.value > policy.upAbove ? "up" : o.value < policy.downBelow ? "down" : null;
  if (!direction)
    return none(
      `steady: ${o.metric} ${figure(o.value, [policy.downBelow, policy.upAbove])} within ${policy.downBelow}–${policy.upAbove}`,
      { ...state, breach: null },
    );
  const since = state.breach?.direction === direction ? state.breach.since : o.now;
  const held = o.now - since;
  const next = { ...state, breach: { direction, since } };
  const comparison = direction === "up" ? `> ${policy.upAbove}` : `< ${policy.downBelow}`;
  const what = `${o.metric} ${figure(o.value, [policy.downBelow, policy.upAbove])} ${comparison} for ${seconds(held)}`;
  if (held < policy.forMs) return none(`watching: ${what} (needs ${seconds(policy.forMs)})`, next);
  if (direction === "up") {
    if (o.hosts >= policy.max)
      return none(`at max: ${what}, but ${o.hosts} hosts is the cap (${policy.max})`, next);
    return act("add", `scale out: ${what}`);
  }
  if (o.hosts <= policy.min)
    return none(`at min: ${what}, but ${o.hosts} hosts is the floor (${policy.min})`, next);
  return act("remove", `scale in: ${what}`);
}

/**
 * A scaling action seen in the fleet's record (`bun run scale` by hand, or another receiver):
 * the cooldown counts from it too, as it does from the autoscaler's own actions.
 */
export function afterActionSeen(state: ScaleState, at: number): ScaleState {
  return state.lastActionAt === null || at > state.lastActionAt
    ? { ...state, lastActionAt: at, breach: null }
    : state;
}

/** What the autoscaler last put in the log, and when. */
export interface Said {
  kind: string;
  at: number;
}

/** How long a state that holds goes unsaid: the log shows it is still looking, not each look. */
export const QUIET_MS = 5 * 60_000;

/**
 * The kinds that each mean nothing needs doing. A metric that hovers at a bound moves between
 * them every few looks (measured in the demo: a line every 5 to 10 s at proxy_cpu 14–16 of 15),
 * so a move among them is not news; the scaling line itself says how long the bound was passed.
 */
const CALM = new Set(["steady", "watching", "at min"]);

/**
 * Whether the log needs this decision: an action always; otherwise when its kind (the words
 * before the colon: steady, watching, at min, cooling down…) is not the last line's, unless
 * both are calm, or the last line is `QUIET_MS` old. A look every 5 s with its numbers was
 * 17 000 lines a day.
 */
export function worthSaying(last: Said | undefined, decision: Decision, now: number): boolean {
  if (decision.action !== "none" || !last) return true;
  const kind = kindOf(decision.why);
  const news = kind !== last.kind && !(CALM.has(kind) && CALM.has(last.kind));
  return news || now - last.at >= QUIET_MS;
}

export const kindOf = (why: string) => why.slice(0, Math.max(0, why.indexOf(":")));
