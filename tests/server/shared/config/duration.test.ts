import { expect, test } from "bun:test";
import { formatDuration, parseDuration } from "../../../../server/shared/config/duration.ts";

test("durations read as people write them", () => {
  expect(parseDuration("500ms")).toBe(500);
  expect(parseDuration("5s")).toBe(5000);
  expect(parseDuration("1.5s")).toBe(1500);
  expect(parseDuration("10m")).toBe(600_000);
  expect(parseDuration("4h")).toBe(14_400_000);
  expect(parseDuration("5")).toBeUndefined();
  expect(parseDuration("5 sec")).toBeUndefined();
  expect(parseDuration("-5s")).toBeUndefined();
});

test("durations print in the largest whole unit", () => {
  expect(formatDuration(600_000)).toBe("10m");
  expect(formatDuration(1500)).toBe("1500ms");
  expect(formatDuration(14_400_000)).toBe("4h");
  expect(formatDuration(0)).toBe("0ms");
});
