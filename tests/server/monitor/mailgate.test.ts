import { expect, test } from "bun:test";
import {
  due,
  type GateState,
  NEW_GATE,
  type Notice,
  offer,
  settle,
} from "../../../server/monitor/mailgate.ts";
import { INITIAL, type Rule, type RuleState, step } from "../../../server/monitor/rules.ts";

const notice = (alertId: string, transition: Notice["transition"]): Notice => ({
  alertId,
  host: "web-1",
  transition,
  detail: "",
});

test("the first notice goes at once; the next waits for the minute", () => {
  let gate = offer(NEW_GATE, notice("cpu:web-1", "firing"));
  let result = due(gate, 0);
  expect(result.send.map((n) => n.transition)).toEqual(["firing"]);
  gate = offer(result.gate, notice("cpu:web-1", "resolved"));
  expect(due(gate, 30_000).send).toEqual([]);
  result = due(gate, 60_000);
  expect(result.send.map((n) => n.transition)).toEqual(["resolved"]);
});

test("what fired and resolved between two mails is no news", () => {
  let gate = due(offer(NEW_GATE, notice("cpu:web-1", "firing")), 0).gate;
  gate = offer(gate, notice("cpu:web-1", "resolved"));
  gate = offer(gate, notice("cpu:web-1", "firing"));
  expect(due(gate, 60_000).send).toEqual([]);
});

test("an alert settled elsewhere (a replaced host) is not mailed, queued or later", () => {
  // mailed as firing, its end told by the heal's mail: no resolved mail after the minute
  let gate = due(offer(NEW_GATE, notice("nodata:web-1", "firing")), 0).gate;
  gate = offer(gate, notice("cpu:web-1", "firing"));
  gate = settle(offer(gate, notice("nodata:web-1", "resolved")), "nodata:web-1");
  expect(due(gate, 60_000).send.map((n) => n.alertId)).toEqual(["cpu:web-1"]);
  // raised and settled before its first mail went: never mailed at all
  const unsent = settle(offer(NEW_GATE, notice("nodata:web-2", "firing")), "nodata:web-2");
  expect(due(unsent, 0).send).toEqual([]);
  expect(unsent.mailed["nodata:web-2"]).toBe("resolved");
});

test("notices for several alerts of a host go in one mail", () => {
  let gate = offer(NEW_GATE, notice("cpu:web-1", "firing"));
  gate = offer(gate, notice("memory:web-1", "firing"));
  expect(due(gate, 0).send.map((n) => n.alertId)).toEqual(["cpu:web-1", "memory:web-1"]);
});

test("a flapping series yields at most one mail a minute, ending on the true state", () => {
  const rule: Rule = {
    metric: "cpu",
    threshold: 50,
    clearBelow: 45,
    forMs: 0,
    repeatMs: 4 * 3_600_000,
  };
  let state: RuleState = INITIAL;
  let gate: GateState = NEW_GATE;
  const mails: { at: number; transitions: string[] }[] = [];
  // Ten minutes of 1 s samples that cross the thresholds every other second.
  for (let s = 0; s < 600; s++) {
    const result = step(rule, state, s % 2 === 0 ? 90 : 10, s * 1000);
    state = result.state;
    if (result.transition) gate = offer(gate, notice("cpu:web-1", result.transition));
    const sent = due(gate, s * 1000);
    gate = sent.gate;
    if (sent.send.length > 0)
      mails.push({ at: s, transitions: sent.send.map((n) => n.transition) });
  }
  expect(mails.length).toBeLessThanOrEqual(10);
  for (let i = 1; i < mails.length; i++) {
    expect((mails[i]?.at ?? 0) - (mails[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(60);
  }
  const samplesEndLow = state.phase === "ok";
  const finalMail =
    due(gate, 10_000_000).send.at(-1)?.transition ?? mails.at(-1)?.transitions.at(-1);
  expect(finalMail).toBe(samplesEndLow ? "resolved" : "firing");
});

test("a repeat is sent only for an alert still known as firing", () => {
  let gate = due(offer(NEW_GATE, notice("cpu:web-1", "firing")), 0).gate;
  gate = offer(gate, notice("cpu:web-1", "repeat"));
  expect(due(gate, 4 * 3_600_000).send.map((n) => n.transition)).toEqual(["repeat"]);
});
