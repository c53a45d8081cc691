import { formatDuration } from "../config/duration.ts";
import type { Canary } from "./model.ts";

/**
 * The canary's steps (canary/steps), as plain functions over the canary record: a new canary
 * starts at the first step's weight, and each step gives way to the next once it has lasted its
 * time while the canary was live — active, and no alert keeping staging out. The steps only
 * ever raise the weight (config validation sees to that), so a visitor sent to staging stays
 * there. The receiver moves them (canary-stepper.ts); a person may `promote` to the next step
 * at once, or set a weight by hand, which holds the steps where they are.
 */

export interface Step {
  weight: number;
  /** ms; none: the step lasts until promoted (Argo's `pause: {}`) */
  for?: number;
}

export interface StepMove {
  /** the fields to change in the canary record */
  patch: Partial<Canary>;
  /** what to say and audit */
  line: string;
}

const iso = (ms: number) => new Date(ms).toISOString();
const lasting = (step: Step) =>
  step.for === undefined ? "until promoted" : `for ${formatDuration(step.for)}`;
const startsAgain = (step: Step) =>
  step.for === undefined ? "" : `; its ${formatDuration(step.for)} start again once it is live`;
const name = (canary: Canary) => `canary ${canary.generation}`;

/**
 * The fields a new canary starts with: its steps' first weight, or without steps canary/weight
 * at once. A weight set by hand was for the canary it was set on, as Argo Rollouts' is.
 */
export function startSteps(
  { weight, steps }: { weight: number; steps: readonly Step[] },
  now: number,
): Partial<Canary> {
  const [first] = steps;
  if (!first) return { weight, stepState: "none" };
  return {
    weight: first.weight,
    steps: steps.map((s) => (s.for === undefined ? { weight: s.weight } : { ...s })),
    step: 0,
    stepSince: iso(now),
    stepState: "running",
  };
}

/** The steps of a canary that is going through them, with where it is; undefined otherwise. */
function stepping(canary: Canary) {
  const { steps, step, stepState } = canary;
  if (!steps || step === undefined || !stepState || stepState === "none") return undefined;
  const current = steps[step];
  return current ? { steps, step, stepState, current } : undefined;
}

/**
 * What the stepper does now, a pure function; undefined: nothing. `blocked`: an alert keeps
 * staging out (the caller knows the alerts); an aborted canary is blocked too.
 */
export function nextStepMove(canary: Canary, blocked: boolean, now: number): StepMove | undefined {
  const at = stepping(canary);
  if (!at || at.stepState === "held" || at.stepState === "done") return undefined;
  const { steps, step, current } = at;
  const place = `step ${step + 1} of ${steps.length}`;
  if (canary.weight !== current.weight)
    return {
      patch: { stepState: "held" },
      line: `${name(canary)}: its weight was set to ${canary.weight}% outside its steps (${place} is ${current.weight}%) — the steps are held there; bun run canary promote goes on to the next`,
    };
  if (canary.state === "aborted" || blocked) {
    if (at.stepState === "paused") return undefined;
    return {
      patch: { stepState: "paused" },
      line: `${name(canary)}: ${place} paused while ${canary.state === "aborted" ? "it is aborted" : "an alert keeps staging out"}${startsAgain(current)}`,
    };
  }
  if (at.stepState === "paused")
    return {
      patch: { stepState: "running", stepSince: iso(now) },
      line: `${name(canary)}: live again — ${place} (${current.weight}%) lasts ${current.for === undefined ? "until promoted" : `${formatDuration(current.for)} from now`}`,
    };
  if (current.for === undefined) return undefined;
  const since = Date.parse(canary.stepSince ?? "");
  if (Number.isFinite(since) && now - since < current.for) return undefined;
  const next = steps[step + 1];
  if (!next)
    return {
      patch: { stepState: "done" },
      line: `${name(canary)}: its last step (${current.weight}%) has lasted ${formatDuration(current.for)} — its steps are done; it stays at ${current.weight}% until it ships to production or the next canary`,
    };
  return {
    patch: { weight: next.weight, step: step + 1, stepSince: iso(now), stepState: "running" },
    line: `${name(canary)}: step ${step + 2} of ${steps.length} — ${current.weight}% → ${next.weight}% of new visitors ${lasting(next)}`,
  };
}

/**
 * `canary promote`: the next step now, whatever the time left (a held canary goes on too).
 * Answers the move, or why not.
 */
export function promoteStep(canary: Canary, now: number): StepMove | { fault: string } {
  const at = stepping(canary);
  if (!at)
    return {
      fault: `${name(canary)} has no steps (canary/steps was empty when it was deployed) — set its share with bun run canary weight N`,
    };
  if (canary.state === "aborted")
    return { fault: `${name(canary)} is aborted — bun run canary resume first` };
  const { steps, step } = at;
  const next = steps[step + 1];
  if (!next)
    return {
      fault: `${name(canary)} is at its last step (${at.current.weight}%) — what comes next is shipping it to production (a push to a production branch)`,
    };
  return {
    patch: { weight: next.weight, step: step + 1, stepSince: iso(now), stepState: "running" },
    line: `${name(canary)}: promoted to step ${step + 2} of ${steps.length} — ${canary.weight}% → ${next.weight}% of new visitors ${lasting(next)}`,
  };
}

/** Where the canary is in its steps, for status and `canary show`; undefined without steps. */
export function describeSteps(canary: Canary, now: number): string | undefined {
  const at = stepping(canary);
  if (!at) return undefined;
  const { steps, step, current, stepState } = at;
  const place = `step ${step + 1} of ${steps.length} (${current.weight}%)`;
  if (stepState === "done") return `steps done at ${current.weight}%`;
  if (stepState === "held")
    return `${place}, held: the weight was set by hand (bun run canary promote goes on)`;
  if (stepState === "paused")
    return current.for === undefined
      ? `${place}, paused`
      : `${place}, paused: its ${formatDuration(current.for)} start again once live`;
  const next = steps[step + 1];
  if (current.for === undefined)
    return next
      ? `${place}, ${next.weight}% once promoted (bun run canary promote)`
      : `${place}, the last`;
  const since = Date.parse(canary.stepSince ?? "");
  const left = Math.max(0, (Number.isFinite(since) ? since : now) + current.for - now);
  return next
    ? `${place}, ${next.weight}% in ${roughly(left)}`
    : `${place}, the last: done in ${roughly(left)}`;
}

/** A time left as a person reads it: whole seconds, minutes or hours. */
function roughly(ms: number): string {
  const s = Math.ceil(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}
