import { expect, test } from "bun:test";
import { canaryMail } from "../../../server/receiver/canary-mail.ts";
import type { Canary } from "../../../server/shared/routing/model.ts";
import { startSteps } from "../../../server/shared/routing/steps.ts";

const T0 = Date.parse("2026-12-05T10:00:00.000Z");
const canary = (extra: Partial<Canary> = {}): Canary => ({
  weight: 30,
  state: "active",
  reason: "",
  generation: "abc123",
  ...extra,
});
const stepped = (extra: Partial<Canary> = {}) =>
  canary({
    ...startSteps(
      {
        weight: 30,
        steps: [{ weight: 10, for: 60_000 }, { weight: 30 }, { weight: 60, for: 60_000 }],
      },
      T0,
    ),
    ...extra,
  });

test("nothing is mailed for the first look, or for a change no person needs to hear of", () => {
  expect(canaryMail(undefined, canary({ state: "aborted" }), "shop")).toBeUndefined();
  expect(canaryMail(canary(), canary({ weight: 50 }), "shop")).toBeUndefined();
  expect(canaryMail(canary(), canary({ generation: "def456" }), "shop")).toBeUndefined();
  // a step that lasts its time
  expect(canaryMail(stepped(), stepped({ step: 2, weight: 60 }), "shop")).toBeUndefined();
  // aborted and still aborted; done and still done
  const aborted = canary({ state: "aborted", reason: "by ann" });
  expect(canaryMail(aborted, aborted, "shop")).toBeUndefined();
  const done = stepped({ step: 2, weight: 60, stepState: "done" });
  expect(canaryMail(done, done, "shop")).toBeUndefined();
});

test("cut off once, whoever did it, and taking visitors again once", () => {
  const cut = canaryMail(
    canary(),
    canary({ state: "aborted", reason: "canary analysis: staging 5xx 40% vs production 0%" }),
    "shop",
  );
  expect(cut).toEqual({
    subject: "[shop] canary abc123 aborted",
    text: [
      "Staging gets no new visitors: canary analysis: staging 5xx 40% vs production 0%.",
      "Visitors it had go back to production; staging's hosts keep running the canary's release.",
      "To let it take visitors again: bun run canary resume (it clears the canary-analysis alert). A push to the staging branch starts a new canary.",
    ].join("\n"),
  });
  const aborted = canary({ state: "aborted", reason: "by ann" });
  expect(canaryMail(aborted, canary({ reason: "resumed by bob" }), "shop")).toEqual({
    subject: "[shop] canary abc123 takes visitors again",
    text: "resumed by bob: staging gets 30% of new visitors.\n",
  });
  expect(
    canaryMail(aborted, canary({ generation: "def456", reason: "canary def456 deployed" }), "shop")
      ?.text,
  ).toBe(
    "canary def456 deployed: staging gets 30% of new visitors (it replaces canary abc123, which was aborted).\n",
  );
});

test("resumed while an alert that guards the canary fires: said, and not called taking visitors", () => {
  const aborted = canary({ state: "aborted", reason: "alert cpu:staging-1: CPU 95% > 50%" });
  expect(
    canaryMail(aborted, canary({ reason: "resumed by ann" }), "shop", ["cpu:staging-1"]),
  ).toEqual({
    subject: "[shop] canary abc123 resumed, but an alert keeps staging out",
    text: "resumed by ann; staging gets nothing while alert cpu:staging-1 fires (its monitor mails when it resolves), then 30% of new visitors.\n",
  });
});

test("with steps: once when they are done, once when a step waits for promote", () => {
  const done = canaryMail(
    stepped({ step: 2, weight: 60 }),
    stepped({ step: 2, weight: 60, stepState: "done" }),
    "shop",
  );
  expect(done?.subject).toBe("[shop] canary abc123 finished its steps at 60%");
  expect(done?.text).toContain("It was live through each of its 3 steps without being cut off");
  const gate = canaryMail(stepped(), stepped({ step: 1, weight: 30 }), "shop");
  expect(gate).toEqual({
    subject: "[shop] canary abc123 waits for promote at 30%",
    text: [
      "It reached step 2 of 3 (30% of new visitors), which lasts until someone promotes it.",
      "bun run canary promote goes on to 60%; bun run canary abort cuts it off.",
    ].join("\n"),
  });
  // held there by hand, or paused and live again at the same step: not again
  const atGate = stepped({ step: 1, weight: 30 });
  expect(canaryMail(atGate, { ...atGate, stepState: "held" }, "shop")).toBeUndefined();
  expect(canaryMail({ ...atGate, stepState: "paused" }, atGate, "shop")).toBeUndefined();
  // a new canary whose first step waits: said at once
  const first = canary({
    ...startSteps({ weight: 30, steps: [{ weight: 5 }, { weight: 50, for: 60_000 }] }, T0),
  });
  expect(canaryMail(canary({ generation: "old" }), first, "shop")?.subject).toBe(
    "[shop] canary abc123 waits for promote at 5%",
  );
  // a last step that waits
  const last = canary({
    ...startSteps({ weight: 30, steps: [{ weight: 10, for: 60_000 }, { weight: 50 }] }, T0),
  });
  expect(canaryMail(last, { ...last, step: 1, weight: 50 }, "shop")?.text).toContain(
    "It is the last step: ship it by pushing its commit to a production branch",
  );
});
