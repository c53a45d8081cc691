import { expect, test } from "bun:test";
import {
  instantsOf,
  isTimeZone,
  offsetAt,
  skippedWallTime,
  wallTimeAt,
} from "../../../../server/shared/config/time-zone.ts";

const at = (iso: string) => Date.parse(iso);
const isoOf = (ms: number) => new Date(ms).toISOString();

test("a time zone is an IANA name this runtime knows; anything else is not one", () => {
  for (const name of ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Etc/GMT-2"])
    expect(isTimeZone(name)).toBe(true);
  for (const name of ["", " UTC", "Europe/Berln", "Mars/Olympus_Mons", "GMT+1"])
    expect(isTimeZone(name)).toBe(false);
});

test("the wall time and offset at an instant, in winter and summer, whole and half hours", () => {
  expect(isoOf(wallTimeAt(at("2026-01-15T12:00:30Z"), "Europe/Berlin"))).toBe(
    "2026-01-15T13:00:30.000Z",
  );
  expect(offsetAt(at("2026-01-15T12:00:00Z"), "Europe/Berlin")).toBe(3_600_000);
  expect(offsetAt(at("2026-07-15T12:00:00Z"), "Europe/Berlin")).toBe(7_200_000);
  expect(offsetAt(at("2026-07-15T12:00:00Z"), "America/New_York")).toBe(-4 * 3_600_000);
  expect(offsetAt(at("2026-07-15T12:00:00Z"), "Asia/Kolkata")).toBe(5.5 * 3_600_000);
  expect(offsetAt(at("2026-07-15T12:00:00Z"), "UTC")).toBe(0);
  // past midnight there, before it here: the wall time is the next day
  expect(isoOf(wallTimeAt(at("2026-12-31T20:00:00Z"), "Asia/Tokyo"))).toBe(
    "2027-01-01T05:00:00.000Z",
  );
});

test("a wall time is one instant, two where the clock turns back, none where it skips", () => {
  // Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST (at 01:00 UTC)
  expect(instantsOf(at("2026-03-29T01:30:00Z"), "Europe/Berlin").map(isoOf)).toEqual([
    "2026-03-29T00:30:00.000Z",
  ]);
  expect(instantsOf(at("2026-03-29T02:30:00Z"), "Europe/Berlin")).toEqual([]);
  expect(isoOf(skippedWallTime(at("2026-03-29T02:30:00Z"), "Europe/Berlin"))).toBe(
    "2026-03-29T01:30:00.000Z", // 03:30 CEST: the time read with the offset before the jump
  );
  // 2026-10-25: 03:00 CEST becomes 02:00 CET (at 01:00 UTC); 02:30 shows twice
  expect(instantsOf(at("2026-10-25T02:30:00Z"), "Europe/Berlin").map(isoOf)).toEqual([
    "2026-10-25T00:30:00.000Z",
    "2026-10-25T01:30:00.000Z",
  ]);
  // Lord Howe's clock changes by half an hour
  expect(instantsOf(at("2026-04-05T01:45:00Z"), "Australia/Lord_Howe").map(isoOf)).toEqual([
    "2026-04-04T14:45:00.000Z",
    "2026-04-04T15:15:00.000Z",
  ]);
  expect(instantsOf(at("2026-10-04T02:15:00Z"), "Australia/Lord_Howe")).toEqual([]);
});
