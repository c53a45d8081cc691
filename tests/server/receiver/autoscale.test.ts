import { expect, test } from "bun:test";
import {
  afterActionSeen,
  decide,
  figure,
  IDLE,
  kindOf,
  QUIET_MS,
  type Said,
  type ScalePolicy,
  type ScaleState,
  worthSaying,
} from "../../../server/receiver/autoscale.ts";
import { ProvisionBreaker } from "../../../server/receiver/breaker.ts";

const policy: ScalePolicy = {
  upAbove: 50,
  downBelow: 20,
  forMs: 60_000,
  cooldownMs: 600_000,
  min: 2,
  max: 4,
  maxFailures: 3,
};

/** Feeds one observation every `stepMs`; answers the actions taken with their times, and every decision. */
function run(values: number[], startHosts = 2, initial: ScaleState = IDLE, stepMs = 10_000) {
  let state = initial;
  let hosts = startHosts;
  const actions: string[] = [];
  const decisions: { now: number; decision: ReturnType<typeof decide> }[] = [];
  values.forEach((value, i) => {
    const now = i * stepMs;
    const decision = decide(policy, state, {
      now,
      value,
      metric: "proxy_cpu",
      hosts,
      deploying: false,
    });
    decisions.push({ now, decision });
    state = decision.state;
    if (decision.action === "add") hosts++;
    if (decision.action === "remove") hosts--;
    if (decision.action !== "none")
      actions.push(`${now / 1000}s ${decision.action}: ${decision.why}`);
  });
  return { actions, decisions, hosts, state };
}

test("sustained load adds one host, after `for`, with the numbers in the log", () => {
  const { actions } = run([80, 80, 80, 80, 80, 80, 80]);
  expect(actions).toEqual(["60s add: scale out: proxy_cpu 80 > 50 for 60s"]);
});

test("a short spike adds nothing", () => {
  expect(run([80, 80, 80, 10, 80, 80]).actions).toEqual([]);
});

test("load that never ends adds exactly one host per cooldown and never passes max", () => {
  const { actions, hosts } = run(Array.from({ length: 360 }, () => 95));
  expect(actions.map((a) => a.split(":")[0])).toEqual(["60s add", "660s add"]);
  expect(hosts).toBe(4);
});

test("quiet traffic removes hosts down to min, one per cooldown", () => {
  const { actions, hosts } = run(
    Array.from({ length: 200 }, () => 5),
    4,
  );
  expect(actions.map((a) => a.split(":")[0])).toEqual(["60s remove", "660s remove"]);
  expect(hosts).toBe(2);
});

test("below min it adds at once; during a deploy it does nothing", () => {
  expect(
    decide(policy, IDLE, { now: 0, value: 0, metric: "proxy_cpu", hosts: 1, deploying: false })
      .action,
  ).toBe("add");
  const busy = decide(policy, IDLE, {
    now: 0,
    value: 99,
    metric: "proxy_cpu",
    hosts: 1,
    deploying: true,
  });
  expect(busy).toMatchObject({ action: "none", why: "waiting: a deploy is running" });
});

test("repeated failed provisions open the circuit until someone resets it", () => {
  const opened: string[] = [];
  const breaker = new ProvisionBreaker(3, (failures, error) => opened.push(`${failures} ${error}`));
  breaker.failed("one");
  breaker.succeeded();
  expect(breaker.failures).toBe(0);
  for (const error of ["a", "b", "c", "d"]) breaker.failed(error);
  // it opens once, at the third; later failures and successes change nothing
  expect(opened).toEqual(["3 c"]);
  breaker.succeeded();
  expect(breaker.open).toBe(true);
  const state = { ...IDLE, failures: breaker.failures };
  const stopped = decide(policy, state, {
    now: 0,
    value: 99,
    metric: "proxy_cpu",
    hosts: 1,
    deploying: false,
  });
  expect(stopped.action).toBe("none");
  expect(stopped.why).toStartWith("stopped: 3 failed provisions in a row");
});

test("a scaling action by hand starts the cooldown too; an older one changes nothing", () => {
  // someone ran `bun run scale` at 0 s: sustained load must wait out the cooldown from then
  const load = Array.from({ length: 70 }, () => 95);
  const manual = run(load, 2, afterActionSeen(IDLE, 0));
  expect(manual.actions.map((a) => a.split(":")[0])).toEqual(["600s add"]);
  expect(run(load, 2, IDLE).actions.map((a) => a.split(":")[0])).toEqual(["60s add", "660s add"]);
  const longAgo = run(load, 2, afterActionSeen(IDLE, -600_000));
  expect(longAgo.actions.map((a) => a.split(":")[0])).toEqual(["60s add", "660s add"]);
  const own = { ...IDLE, lastActionAt: 5_000 };
  expect(afterActionSeen(own, 1_000)).toBe(own);
});

/** The lines the log gets from a run's decisions. */
function logLines(values: number[], stepMs = 5_000): string[] {
  let last: Said | undefined;
  const lines: string[] = [];
  for (const { now, decision } of run(values, 2, IDLE, stepMs).decisions) {
    if (worthSaying(last, decision, now)) {
      lines.push(`${now / 1000}s ${decision.why}`);
      last = { kind: kindOf(decision.why), at: now };
    }
  }
  return lines;
}

test("the log has every action and each change out of calm, not each look's numbers", () => {
  // an hour at the floor, a burst that scales out, then quiet again: one observation every 5 s
  const lines = logLines([
    ...Array.from({ length: 720 }, () => 5),
    ...Array.from({ length: 20 }, () => 90),
    ...Array.from({ length: 40 }, () => 30),
  ]);
  const kinds = lines.map((line) => line.replace(/^\d+s /, "").split(":")[0]);
  // calm (steady, watching, at min) for an hour: said at first, then once each QUIET_MS
  const quiet = QUIET_MS / 1000;
  expect(lines.slice(0, 13).map((line) => line.split(" ")[0])).toEqual(
    Array.from({ length: 13 }, (_, i) => `${i * quiet}s`),
  );
  // the last of them at 3600 s, as the burst begins: watching it, calm until it has lasted
  expect(kinds.slice(0, 13)).toEqual([
    "watching",
    ...Array.from({ length: 11 }, () => "at min"),
    "watching",
  ]);
  // then the burst: the action, and what follows it
  expect(lines.slice(13)).toEqual([
    "3660s scale out: proxy_cpu 90 > 50 for 60s",
    "3665s watching: proxy_cpu 90 > 50 for 0s (needs 60s)",
  ]);
});

test("a metric hovering at a bound is not a line every few looks, and shows which side it is", () => {
  // the demo's receiver: proxy_cpu 14.6, 16, 14.6… against a bound of 20 here
  const lines = logLines(Array.from({ length: 120 }, (_, i) => (i % 3 === 0 ? 19.6 : 21)));
  expect(lines).toEqual([
    "0s watching: proxy_cpu 19.6 < 20 for 0s (needs 60s)",
    "300s watching: proxy_cpu 19.6 < 20 for 0s (needs 60s)",
  ]);
  // out of calm is news at once: cooling down, at max, a deploy
  const cooling = { kind: "cooling down", at: 0 };
  const steady = decide(policy, IDLE, {
    now: 5_000,
    value: 30,
    metric: "proxy_cpu",
    hosts: 2,
    deploying: false,
  });
  expect(worthSaying(cooling, steady, 5_000)).toBe(true);
  const deploying = decide(policy, IDLE, {
    now: 5_000,
    value: 30,
    metric: "proxy_cpu",
    hosts: 2,
    deploying: true,
  });
  expect(worthSaying({ kind: "steady", at: 0 }, deploying, 5_000)).toBe(true);
});

test("a figure shows its tenth, and more places where the tenth would round onto a bound", () => {
  expect(figure(93)).toBe("93");
  expect(figure(14.6, [15, 40])).toBe("14.6");
  expect(figure(14.96, [15, 40])).toBe("14.96");
  expect(figure(40.04, [15, 40])).toBe("40.04");
  expect(figure(14.96)).toBe("15.0");
  const just = decide(policy, IDLE, {
    now: 0,
    value: 19.97,
    metric: "proxy_cpu",
    hosts: 3,
    deploying: false,
  });
  expect(just.why).toBe("watching: proxy_cpu 19.97 < 20 for 0s (needs 60s)");
});

test("a kind is the words before the colon", () => {
  expect(kindOf("at min: proxy_cpu 1 < 15 for 735s, but 2 hosts is the floor (2)")).toBe("at min");
  expect(kindOf("no colon")).toBe("");
});
