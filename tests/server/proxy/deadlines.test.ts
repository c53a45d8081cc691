import { expect, test } from "bun:test";
import { AnswerWait, Deadlines } from "../../../server/proxy/deadlines.ts";
import type { Upload } from "../../../server/proxy/upstream/client.ts";

const deadlines = new Deadlines(1_000, 100);
deadlines.stop(); // swept by hand below, not by its timer

function exchange() {
  const cancelled: string[] = [];
  return { cancelled, cancel: (reason: string) => cancelled.push(reason) };
}

test("an answer in time leaves nothing waiting and nothing cancelled", () => {
  const upstream = exchange();
  const wait = new AnswerWait(deadlines, upstream, new Request("http://x/"), 0);
  expect(deadlines.size).toBe(1);
  wait.done();
  deadlines.sweep(5_000);
  expect(deadlines.size).toBe(0);
  expect(upstream.cancelled).toEqual([]);
  expect(wait.timedOut).toBe(false);
});

test("a wait past its deadline is cancelled at the next sweep, and only then", () => {
  const upstream = exchange();
  const wait = new AnswerWait(deadlines, upstream, new Request("http://x/"), 10_000);
  deadlines.sweep(10_500);
  expect(upstream.cancelled).toEqual([]);
  deadlines.sweep(11_000);
  expect(upstream.cancelled).toEqual(["no answer within the response timeout"]);
  expect(wait.timedOut).toBe(true);
  expect(deadlines.size).toBe(0);
});

test("a slow wait listens for the visitor leaving; a fast one never touches the signal", () => {
  let touched = 0;
  const controller = new AbortController();
  const request = {
    get signal() {
      touched++;
      return controller.signal;
    },
  };
  const upstream = exchange();
  const fast = new AnswerWait(deadlines, upstream, request, 20_000);
  fast.done();
  expect(touched).toBe(0);

  const slow = new AnswerWait(deadlines, upstream, request, 20_000);
  deadlines.sweep(20_000 + deadlines.tickMs);
  expect(touched).toBeGreaterThan(0);
  expect(upstream.cancelled).toEqual([]);
  controller.abort();
  expect(upstream.cancelled).toEqual(["the visitor went away"]);
  slow.done();
});

test("a visitor gone before the wait turned slow cancels it at the sweep", () => {
  const controller = new AbortController();
  controller.abort();
  const upstream = exchange();
  const wait = new AnswerWait(deadlines, upstream, controller, 30_000);
  deadlines.sweep(30_000 + deadlines.tickMs);
  expect(upstream.cancelled).toEqual(["the visitor went away"]);
  wait.done();
});

test("waits and the sweeps' timer go by the monotonic clock, which no wall-clock step moves", async () => {
  const ticking = new Deadlines(1_000, 10);
  const upstream = exchange();
  const before = performance.now();
  const wait = new AnswerWait(ticking, upstream, new Request("http://x/"));
  expect(wait.deadline).toBeGreaterThanOrEqual(before + 1_000);
  expect(wait.deadline).toBeLessThanOrEqual(performance.now() + 1_000);
  // a few sweeps by the timer: on another clock than the wait's, the first would expire it
  let sweeps = 0;
  const sweep = ticking.sweep.bind(ticking);
  ticking.sweep = (now) => {
    sweeps++;
    sweep(now);
  };
  while (sweeps < 3) await Bun.sleep(10);
  expect(upstream.cancelled).toEqual([]);
  wait.done();
  ticking.stop();
});

test("while a request's body moves its wait is not late; the answer's wait starts at its last byte", () => {
  const upload: Upload = { waitingOn: "backend", movedAt: 20_000 };
  const upstream = { ...exchange(), upload };
  const wait = new AnswerWait(
    deadlines,
    upstream,
    new Request("http://x/", { method: "POST" }),
    20_000,
  );
  // bytes came from the visitor at 20.8 s and at 21.6 s: the wait runs on past 21 s
  upload.waitingOn = "visitor";
  upload.movedAt = 20_800;
  deadlines.sweep(21_000);
  upload.movedAt = 21_600;
  deadlines.sweep(21_800);
  // the body went out whole at 22.5 s: the backend has until 23.5 s to answer
  upload.waitingOn = "done";
  upload.movedAt = 22_500;
  deadlines.sweep(23_400);
  expect([upstream.cancelled, wait.timedOut, deadlines.size]).toEqual([[], false, 1]);
  deadlines.sweep(23_500);
  expect(upstream.cancelled).toEqual(["no answer within the response timeout"]);
  expect([wait.timedOut, wait.visitorStalled, deadlines.size]).toEqual([true, false, 0]);
});

test("a body that stops coming is the visitor's doing; one the backend stops taking is not", () => {
  for (const waitingOn of ["visitor", "backend"] as const) {
    const upload: Upload = { waitingOn, movedAt: 30_000 };
    const upstream = { ...exchange(), upload };
    const wait = new AnswerWait(
      deadlines,
      upstream,
      new Request("http://x/", { method: "POST" }),
      30_000,
    );
    deadlines.sweep(30_900);
    expect(wait.timedOut).toBe(false);
    deadlines.sweep(31_000);
    expect([wait.timedOut, wait.visitorStalled]).toEqual([true, waitingOn === "visitor"]);
    expect(deadlines.size).toBe(0);
  }
});
