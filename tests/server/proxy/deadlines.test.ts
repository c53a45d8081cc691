import { afterAll, expect, test } from "bun:test";
import { Deadlines, TIMED_OUT } from "../../../server/proxy/deadlines.ts";

const deadlines = new Deadlines(1_000, 60_000); // swept by hand below, not by its timer
afterAll(() => deadlines.stop());

test("an answer in time is passed through and leaves nothing waiting", async () => {
  expect(await deadlines.race(Promise.resolve("answer"))).toBe("answer");
  expect(deadlines.size).toBe(0);
});

test("a failure in time is passed through as a failure", async () => {
  await expect(deadlines.race(Promise.reject(new Error("refused")))).rejects.toThrow("refused");
  expect(deadlines.size).toBe(0);
});

test("a wait past its deadline ends with TIMED_OUT at the next sweep, and only then", async () => {
  const never = new Promise<string>(() => {});
  const started = Date.now();
  const waiting = deadlines.race(never);
  expect(deadlines.size).toBe(1);
  deadlines.sweep(started + 500);
  expect(deadlines.size).toBe(1);
  deadlines.sweep(started + 1_001);
  expect(await waiting).toBe(TIMED_OUT);
  expect(deadlines.size).toBe(0);
});
