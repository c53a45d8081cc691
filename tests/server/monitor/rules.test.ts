import { describe, expect, test } from "bun:test";
import {
  checkSilence,
  INITIAL,
  type Rule,
  type RuleState,
  step,
  type Transition,
} from "../../../server/monitor/rules.ts";

const rule: Rule = {
  metric: "cpu",
  threshold: 50,
  clearBelow: 45,
  forMs: 30_000,
  repeatMs: 4 * 3_600_000,
};

/** Runs a series of [seconds, value] samples; answers the transitions with their times. */
function run(samples: [number, number][], r: Rule = rule) {
  let state: RuleState = INITIAL;
  const out: [number, Transition][] = [];
  for (const [seconds, value] of samples) {
    const result = step(r, state, value, seconds * 1000);
    state = result.state;
    if (result.transition) out.push([seconds, result.transition]);
  }
  return { out, state };
}

describe("the alert rule", () => {
  test("a breach must last `for` before it fires, and fires once", () => {
    const { out, state } = run([
      [0, 80],
      [10, 80],
      [20, 90],
      [30, 85],
      [40, 90],
      [50, 95],
    ]);
    expect(out).toEqual([[30, "firing"]]);
    expect(state).toMatchObject({ phase: "firing", since: 0 });
  });

  test("a breach shorter than `for` is forgotten", () => {
    expect(
      run([
        [0, 80],
        [20, 80],
        [25, 10],
        [30, 80],
        [50, 80],
      ]).out,
    ).toEqual([]);
  });

  test("it clears only below the lower threshold, once", () => {
    const { out } = run([
      [0, 80],
      [30, 80],
      [40, 48],
      [50, 47],
      [60, 44],
      [70, 10],
    ]);
    expect(out).toEqual([
      [30, "firing"],
      [60, "resolved"],
    ]);
  });

  test("while firing it repeats only at the long interval", () => {
    const hours = (h: number) => h * 3600;
    const samples: [number, number][] = [];
    for (let s = 0; s <= hours(9); s += 60) samples.push([s, 90]);
    expect(run(samples).out).toEqual([
      [30 * 0 + 60, "firing"],
      [60 + hours(4), "repeat"],
      [60 + hours(8), "repeat"],
    ]);
  });

  test("with `for` 0 the first breach fires at once", () => {
    expect(run([[0, 60]], { ...rule, forMs: 0 }).out).toEqual([[0, "firing"]]);
  });
});

describe("silence", () => {
  test("a host that stops reporting fires no-data once, and its next sample resolves it", () => {
    let state = { silent: false, since: null as number | null };
    const transitions: (Transition | undefined)[] = [];
    for (const now of [10_000, 29_000, 31_000, 60_000]) {
      const result = checkSilence(state, 0, now, 30_000);
      state = result.state;
      transitions.push(result.transition);
    }
    expect(transitions).toEqual([undefined, undefined, "firing", undefined]);
    expect(state).toEqual({ silent: true, since: 0 });
    expect(checkSilence(state, 61_000, 62_000, 30_000).transition).toBe("resolved");
  });

  test("a host the heal is replacing is not raised; once the mark ends (a failed heal) it is", () => {
    const quiet = { silent: false, since: null };
    const marked = checkSilence(quiet, 0, 45_000, 30_000, true);
    expect(marked).toEqual({ state: quiet });
    expect(checkSilence(marked.state, 0, 50_000, 30_000, false)).toEqual({
      state: { silent: true, since: 0 },
      transition: "firing",
    });
  });

  test("a silence raised before the heal began stays raised while it replaces the host", () => {
    const raised = { silent: true, since: 0 };
    expect(checkSilence(raised, 0, 90_000, 30_000, true)).toEqual({ state: raised });
  });
});
