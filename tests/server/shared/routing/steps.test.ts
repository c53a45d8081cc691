import { expect, test } from "bun:test";
import type { Canary } from "../../../../server/shared/routing/model.ts";
import {
  describeSteps,
  nextStepMove,
  promoteStep,
  startSteps,
} from "../../../../server/shared/routing/steps.ts";

const MIN = 60_000;
const T0 = Date.parse("2026-12-05T10:00:00.000Z");
const STEPS = [
  { weight: 10, for: 5 * MIN },
  { weight: 30, for: 10 * MIN },
  { weight: 60, for: 10 * MIN },
];

const started = (extra: Partial<Canary> = {}): Canary => ({
  weight: 30,
  state: "active",
  reason: "",
  generation: "abc123",
  ...startSteps({ weight: 30, steps: STEPS }, T0),
  ...extra,
});

/** The canary after a move's patch, as the merge in Redis makes it. */
const apply = (canary: Canary, patch: Partial<Canary>): Canary => ({ ...canary, ...patch });

test("a new canary starts at its first step's weight, and without steps at canary/weight", () => {
  expect(startSteps({ weight: 25, steps: STEPS }, T0)).toEqual({
    weight: 10,
    steps: STEPS,
    step: 0,
    stepSince: "2026-12-05T10:00:00.000Z",
    stepState: "running",
  });
  expect(startSteps({ weight: 25, steps: [] }, T0)).toEqual({ weight: 25, stepState: "none" });
});

test("each step gives way to the next once it has lasted its time, and the last ends the steps", () => {
  let canary = started();
  expect(nextStepMove(canary, false, T0 + 5 * MIN - 1)).toBeUndefined();
  const second = nextStepMove(canary, false, T0 + 5 * MIN);
  expect(second?.patch).toEqual({
    weight: 30,
    step: 1,
    stepSince: new Date(T0 + 5 * MIN).toISOString(),
    stepState: "running",
  });
  expect(second?.line).toBe("canary abc123: step 2 of 3 — 10% → 30% of new visitors for 10m");
  canary = apply(canary, second?.patch ?? {});
  expect(nextStepMove(canary, false, T0 + 15 * MIN - 1)).toBeUndefined();
  canary = apply(canary, nextStepMove(canary, false, T0 + 15 * MIN)?.patch ?? {});
  expect(canary).toMatchObject({ weight: 60, step: 2, stepState: "running" });
  const last = nextStepMove(canary, false, T0 + 25 * MIN);
  expect(last?.patch).toEqual({ stepState: "done" });
  expect(last?.line).toContain("its steps are done; it stays at 60%");
  canary = apply(canary, last?.patch ?? {});
  expect(nextStepMove(canary, false, T0 + 90 * MIN)).toBeUndefined();
  expect(describeSteps(canary, T0 + 90 * MIN)).toBe("steps done at 60%");
});

test("an aborted or alerted canary pauses its step, and the step's whole time starts again once live", () => {
  let canary = started();
  const aborted = apply(canary, { state: "aborted", reason: "by ann" });
  const pause = nextStepMove(aborted, false, T0 + 4 * MIN);
  expect(pause?.patch).toEqual({ stepState: "paused" });
  expect(pause?.line).toBe(
    "canary abc123: step 1 of 3 paused while it is aborted; its 5m start again once it is live",
  );
  canary = apply(aborted, pause?.patch ?? {});
  // paused: nothing more, however long
  expect(nextStepMove(canary, false, T0 + 60 * MIN)).toBeUndefined();
  expect(describeSteps(canary, T0 + 60 * MIN)).toBe(
    "step 1 of 3 (10%), paused: its 5m start again once live",
  );
  // resumed, but an alert keeps staging out: still paused
  canary = apply(canary, { state: "active" });
  expect(nextStepMove(canary, true, T0 + 61 * MIN)).toBeUndefined();
  const live = nextStepMove(canary, false, T0 + 62 * MIN);
  expect(live?.patch).toEqual({
    stepState: "running",
    stepSince: new Date(T0 + 62 * MIN).toISOString(),
  });
  canary = apply(canary, live?.patch ?? {});
  expect(nextStepMove(canary, false, T0 + 66 * MIN)).toBeUndefined();
  expect(nextStepMove(canary, false, T0 + 67 * MIN)?.patch.weight).toBe(30);
  // an alert alone pauses a running step too
  expect(nextStepMove(started(), true, T0 + MIN)?.line).toContain(
    "paused while an alert keeps staging out",
  );
});

test("a weight set by hand holds the steps; only promote goes on", () => {
  const byHand = started({ weight: 50 });
  const hold = nextStepMove(byHand, false, T0 + MIN);
  expect(hold?.patch).toEqual({ stepState: "held" });
  expect(hold?.line).toBe(
    "canary abc123: its weight was set to 50% outside its steps (step 1 of 3 is 10%) — the steps are held there; bun run canary promote goes on to the next",
  );
  const held = apply(byHand, hold?.patch ?? {});
  expect(nextStepMove(held, false, T0 + 600 * MIN)).toBeUndefined();
  expect(describeSteps(held, T0)).toBe(
    "step 1 of 3 (10%), held: the weight was set by hand (bun run canary promote goes on)",
  );
  const promoted = promoteStep(held, T0 + 2 * MIN);
  expect(promoted).toEqual({
    patch: {
      weight: 30,
      step: 1,
      stepSince: new Date(T0 + 2 * MIN).toISOString(),
      stepState: "running",
    },
    line: "canary abc123: promoted to step 2 of 3 — 50% → 30% of new visitors for 10m",
  });
});

test("promote: the next step at once, never past the last, never while aborted or without steps", () => {
  const first = promoteStep(started(), T0 + MIN);
  expect("patch" in first && first.patch).toMatchObject({ weight: 30, step: 1 });
  const last = started({ weight: 60, step: 2 });
  expect(promoteStep(last, T0)).toEqual({
    fault:
      "canary abc123 is at its last step (60%) — what comes next is shipping it to production (a push to a production branch)",
  });
  expect(promoteStep(started({ state: "aborted" }), T0)).toEqual({
    fault: "canary abc123 is aborted — bun run canary resume first",
  });
  const plain: Canary = { weight: 30, state: "active", reason: "", generation: "abc123" };
  for (const none of [plain, { ...plain, ...startSteps({ weight: 30, steps: [] }, T0) }]) {
    expect(promoteStep(none, T0)).toEqual({
      fault:
        "canary abc123 has no steps (canary/steps was empty when it was deployed) — set its share with bun run canary weight N",
    });
    expect(nextStepMove(none, false, T0 + 600 * MIN)).toBeUndefined();
    expect(describeSteps(none, T0)).toBeUndefined();
  }
});

test("where a running canary is, in words", () => {
  expect(describeSteps(started(), T0 + 30_000)).toBe("step 1 of 3 (10%), 30% in 5 min");
  expect(describeSteps(started(), T0 + 5 * MIN - 10_000)).toBe("step 1 of 3 (10%), 30% in 10 s");
  expect(describeSteps(started({ weight: 60, step: 2 }), T0 + MIN)).toBe(
    "step 3 of 3 (60%), the last: done in 9 min",
  );
  // a step whose time is up, before the stepper's next look
  expect(describeSteps(started(), T0 + 6 * MIN)).toBe("step 1 of 3 (10%), 30% in 0 s");
});

test("a step record that lost its start time goes on at once rather than never", () => {
  const canary = started({ stepSince: "not a time" });
  expect(nextStepMove(canary, false, T0)?.patch).toMatchObject({ weight: 30, step: 1 });
});

test("a step without a time waits for promote: no time moves it, and it says so", () => {
  const gated = {
    ...started(),
    ...startSteps(
      {
        weight: 30,
        steps: [
          { weight: 10, for: 5 * MIN },
          { weight: 30 },
          { weight: 60, for: 10 * MIN },
          { weight: 90 },
        ],
      },
      T0,
    ),
  };
  expect(gated.steps?.[1]).toEqual({ weight: 30 });
  const second = nextStepMove(gated, false, T0 + 5 * MIN);
  expect(second?.line).toBe(
    "canary abc123: step 2 of 4 — 10% → 30% of new visitors until promoted",
  );
  let canary = apply(gated, second?.patch ?? {});
  expect(nextStepMove(canary, false, T0 + 6000 * MIN)).toBeUndefined();
  expect(describeSteps(canary, T0)).toBe(
    "step 2 of 4 (30%), 60% once promoted (bun run canary promote)",
  );
  // paused and live again: still waiting, no time to start again
  const paused = nextStepMove({ ...canary, state: "aborted" }, false, T0 + 7 * MIN);
  expect(paused?.line).toBe("canary abc123: step 2 of 4 paused while it is aborted");
  canary = apply(canary, paused?.patch ?? {});
  expect(describeSteps(canary, T0)).toBe("step 2 of 4 (30%), paused");
  const live = nextStepMove(canary, false, T0 + 8 * MIN);
  expect(live?.line).toBe("canary abc123: live again — step 2 of 4 (30%) lasts until promoted");
  canary = apply(canary, live?.patch ?? {});
  expect(nextStepMove(canary, false, T0 + 6000 * MIN)).toBeUndefined();
  const promoted = promoteStep(canary, T0 + 9 * MIN);
  expect("patch" in promoted && promoted.line).toBe(
    "canary abc123: promoted to step 3 of 4 — 30% → 60% of new visitors for 10m",
  );
  canary = apply(canary, "patch" in promoted ? promoted.patch : {});
  canary = apply(canary, nextStepMove(canary, false, T0 + 19 * MIN)?.patch ?? {});
  expect(canary).toMatchObject({ weight: 90, step: 3, stepState: "running" });
  // the last, without a time: it stays, never "done" on its own
  expect(nextStepMove(canary, false, T0 + 6000 * MIN)).toBeUndefined();
  expect(describeSteps(canary, T0)).toBe("step 4 of 4 (90%), the last");
});
