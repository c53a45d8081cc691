import { expect, test } from "bun:test";
import {
  CronError,
  type CronSchedule,
  nextRun,
  nextRunIn,
  parseCron,
} from "../../../../server/shared/config/cron.ts";
import { wallTimeAt } from "../../../../server/shared/config/time-zone.ts";

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? "never" : new Date(ms).toISOString());
/** The next `count` runs after `from`, on UTC's clock or `zone`'s. */
const runs = (text: string, from: string, count = 3, zone?: string) => {
  const schedule = parseCron(text);
  const out: string[] = [];
  let after = at(from);
  for (let i = 0; i < count; i++) {
    const next = zone === undefined ? nextRun(schedule, after) : nextRunIn(schedule, after, zone);
    out.push(iso(next));
    if (next === undefined) break;
    after = next;
  }
  return out;
};

test("every minute runs at the next whole minute, strictly after the time given", () => {
  expect(runs("* * * * *", "2026-12-05T17:38:41.500Z")).toEqual([
    "2026-12-05T17:39:00.000Z",
    "2026-12-05T17:40:00.000Z",
    "2026-12-05T17:41:00.000Z",
  ]);
  // a time on the minute itself is not run again
  expect(runs("* * * * *", "2026-12-05T17:39:00.000Z", 1)).toEqual(["2026-12-05T17:40:00.000Z"]);
});

test("steps, ranges and lists, across an hour, a day, a month and a year", () => {
  expect(runs("*/15 * * * *", "2026-12-05T17:38:00Z")).toEqual([
    "2026-12-05T17:45:00.000Z",
    "2026-12-05T18:00:00.000Z",
    "2026-12-05T18:15:00.000Z",
  ]);
  expect(runs("5,35 9-10 * * *", "2026-12-05T10:40:00Z")).toEqual([
    "2026-12-06T09:05:00.000Z",
    "2026-12-06T09:35:00.000Z",
    "2026-12-06T10:05:00.000Z",
  ]);
  expect(runs("0 0 1 */6 *", "2026-12-05T00:00:00Z", 2)).toEqual([
    "2027-01-01T00:00:00.000Z",
    "2027-07-01T00:00:00.000Z",
  ]);
  expect(runs("10-50/20 3 * * *", "2026-12-31T03:31:00Z", 3)).toEqual([
    "2026-12-31T03:50:00.000Z",
    "2027-01-01T03:10:00.000Z",
    "2027-01-01T03:30:00.000Z",
  ]);
  // a single value with a step runs from it to the field's end
  expect(runs("50/5 * * * *", "2026-12-05T17:00:00Z", 3)).toEqual([
    "2026-12-05T17:50:00.000Z",
    "2026-12-05T17:55:00.000Z",
    "2026-12-05T18:50:00.000Z",
  ]);
});

test("names for months and days, 7 as Sunday, and the shorthands", () => {
  // 2026-12-05 is a Saturday
  expect(runs("30 3 * * mon-fri", "2026-12-05T00:00:00Z", 2)).toEqual([
    "2026-12-07T03:30:00.000Z",
    "2026-12-08T03:30:00.000Z",
  ]);
  expect(runs("0 12 * * 7", "2026-12-05T00:00:00Z", 1)).toEqual(["2026-12-06T12:00:00.000Z"]);
  expect(runs("0 12 * * SUN", "2026-12-05T00:00:00Z", 1)).toEqual(["2026-12-06T12:00:00.000Z"]);
  expect(runs("0 0 1 jan,Jul *", "2026-12-05T00:00:00Z", 2)).toEqual([
    "2027-01-01T00:00:00.000Z",
    "2027-07-01T00:00:00.000Z",
  ]);
  expect(runs("@hourly", "2026-12-05T17:38:00Z", 1)).toEqual(["2026-12-05T18:00:00.000Z"]);
  expect(runs("@daily", "2026-12-05T17:38:00Z", 1)).toEqual(["2026-12-06T00:00:00.000Z"]);
  expect(runs("@midnight", "2026-12-05T17:38:00Z", 1)).toEqual(["2026-12-06T00:00:00.000Z"]);
  expect(runs("@weekly", "2026-12-05T17:38:00Z", 1)).toEqual(["2026-12-06T00:00:00.000Z"]);
  expect(runs("@monthly", "2026-12-05T17:38:00Z", 1)).toEqual(["2027-01-01T00:00:00.000Z"]);
  expect(runs("@yearly", "2026-12-05T17:38:00Z", 1)).toEqual(["2027-01-01T00:00:00.000Z"]);
  expect(runs("@annually", "2026-12-05T17:38:00Z", 1)).toEqual(["2027-01-01T00:00:00.000Z"]);
  expect(parseCron("@Daily").text).toBe("@Daily");
});

test("a day of the month and a day of the week both given: either day runs, as in Vixie cron", () => {
  // the 13th, or any Friday; 2026-12-05 is a Saturday, the 11th a Friday
  expect(runs("0 0 13 * fri", "2026-12-05T00:00:00Z", 3)).toEqual([
    "2026-12-11T00:00:00.000Z",
    "2026-12-13T00:00:00.000Z",
    "2026-12-18T00:00:00.000Z",
  ]);
  // one of them a star (even with a step): both must match
  expect(runs("0 0 */1 * fri", "2026-12-05T00:00:00Z", 2)).toEqual([
    "2026-12-11T00:00:00.000Z",
    "2026-12-18T00:00:00.000Z",
  ]);
  expect(runs("0 0 13 * *", "2026-12-05T00:00:00Z", 1)).toEqual(["2026-12-13T00:00:00.000Z"]);
});

test("29 February is found years ahead; a day no month has is refused", () => {
  expect(runs("0 0 29 2 *", "2026-12-05T00:00:00Z", 2)).toEqual([
    "2028-02-29T00:00:00.000Z",
    "2032-02-29T00:00:00.000Z",
  ]);
  expect(() => parseCron("0 0 30 2 *")).toThrow(
    '"0 0 30 2 *" never runs: no month has that day (a day of the month past the month\'s last, like 30 in February)',
  );
  expect(() => parseCron("0 0 31 4,6,9,11 *")).toThrow(CronError);
  // with a day of the week beside it, February's Mondays still run
  expect(runs("0 0 30 2 mon", "2026-12-05T00:00:00Z", 2)).toEqual([
    "2027-02-01T00:00:00.000Z",
    "2027-02-08T00:00:00.000Z",
  ]);
});

test("each fault names its field and what it takes", () => {
  const fault = (text: string) => {
    try {
      parseCron(text);
    } catch (error) {
      expect(error).toBeInstanceOf(CronError);
      return (error as Error).message;
    }
    throw new Error(`${text} was taken`);
  };
  expect(fault("* * * *")).toBe(
    '"* * * *" has 4 fields: a schedule has five (minute hour day-of-month month day-of-week), like */15 * * * * (every 15 minutes) or 30 3 * * mon-fri (03:30 on weekdays)',
  );
  expect(fault("")).toStartWith('"" has 0 fields: a schedule has five');
  expect(fault("60 * * * *")).toBe(
    'the minute field "60" has 60, out of range: use 0–59, *, a range a-b, a step */n, or a list of them',
  );
  expect(fault("* 24 * * *")).toStartWith('the hour field "24" has 24, out of range: use 0–23');
  expect(fault("* * 0 * *")).toStartWith('the day of the month field "0" has 0, out of range');
  expect(fault("* * * 13 *")).toBe(
    'the month field "13" has 13, out of range: use 1–12 or names (jan, feb, mar, …), *, a range a-b, a step */n, or a list of them',
  );
  expect(fault("* * * * 8")).toStartWith(
    'the day of the week field "8" has 8, out of range: use 0–7 or names (sun, mon, tue, …)',
  );
  expect(fault("*/0 * * * *")).toStartWith(
    'the minute field "*/0" has the step "0", not a whole number from 1',
  );
  expect(fault("*/x * * * *")).toStartWith('the minute field "*/x" has the step "x"');
  expect(fault("30-10 * * * *")).toStartWith('the minute field "30-10" runs backwards (30 to 10)');
  expect(fault("1,,2 * * * *")).toStartWith('the minute field "1,,2" is not read');
  expect(fault("1-2-3 * * * *")).toStartWith('the minute field "1-2-3" is not read');
  expect(fault("*/2/3 * * * *")).toStartWith('the minute field "*/2/3" is not read');
  expect(fault("* * * * fri-sun")).toStartWith(
    'the day of the week field "fri-sun" runs backwards (5 to 0)',
  );
  expect(fault("-1 * * * *")).toStartWith('the minute field "-1" has "", which is not a value');
  expect(fault("1.5 * * * *")).toStartWith(
    'the minute field "1.5" has "1.5", which is not a value',
  );
  expect(fault("@reboot")).toBe(
    '"@reboot" is not a schedule: the shorthands are @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly (@reboot has no meaning here)',
  );
});

/** The next `count` runs after `from` on `zone`'s clock. */
const runsIn = (text: string, zone: string, from: string, count = 3) =>
  runs(text, from, count, zone);

test("a time zone's clock: its hours, its days, and UTC as before", () => {
  // 09:00 on Mondays in Tokyo is 00:00 UTC on Mondays
  expect(runsIn("0 9 * * mon", "Asia/Tokyo", "2026-12-01T00:00:00Z", 2)).toEqual([
    "2026-12-07T00:00:00.000Z",
    "2026-12-14T00:00:00.000Z",
  ]);
  // 03:00 in Kolkata (+05:30) is the evening before in UTC
  expect(runsIn("0 3 * * *", "Asia/Kolkata", "2026-12-01T00:00:00Z", 1)).toEqual([
    "2026-12-01T21:30:00.000Z",
  ]);
  // New Year in New York, a year on
  expect(runsIn("@yearly", "America/New_York", "2026-02-01T00:00:00Z", 2)).toEqual([
    "2027-01-01T05:00:00.000Z",
    "2028-01-01T05:00:00.000Z",
  ]);
  expect(runsIn("30 3 * * mon-fri", "UTC", "2026-12-05T00:00:00Z", 3)).toEqual(
    runs("30 3 * * mon-fri", "2026-12-05T00:00:00Z", 3),
  );
});

test("at set hours a job runs once on the days the clock changes: a skipped time as late as the jump", () => {
  // Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 that night runs at 03:30 CEST
  expect(runsIn("30 2 * * *", "Europe/Berlin", "2026-03-27T12:00:00Z", 3)).toEqual([
    "2026-03-28T01:30:00.000Z",
    "2026-03-29T01:30:00.000Z",
    "2026-03-30T00:30:00.000Z",
  ]);
  // 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 shows twice and runs at the first
  expect(runsIn("30 2 * * *", "Europe/Berlin", "2026-10-23T12:00:00Z", 3)).toEqual([
    "2026-10-24T00:30:00.000Z",
    "2026-10-25T00:30:00.000Z",
    "2026-10-26T01:30:00.000Z",
  ]);
  // asked from inside the second pass, it does not run again that day
  expect(runsIn("30 2 * * *", "Europe/Berlin", "2026-10-25T01:10:00Z", 1)).toEqual([
    "2026-10-26T01:30:00.000Z",
  ]);
  // Lord Howe's half-hour change: 02:00 does not exist on 2026-10-04, and shows once on 04-05
  expect(runsIn("0 2 * * *", "Australia/Lord_Howe", "2026-10-03T00:00:00Z", 2)).toEqual([
    "2026-10-03T15:30:00.000Z",
    "2026-10-04T15:00:00.000Z",
  ]);
  expect(runsIn("0 2 * * *", "Australia/Lord_Howe", "2026-04-03T00:00:00Z", 3)).toEqual([
    "2026-04-03T15:00:00.000Z",
    "2026-04-04T15:30:00.000Z",
    "2026-04-05T15:30:00.000Z",
  ]);
});

/** Whether the schedule runs at a wall time (cron's own reading of the five fields). */
function matchesWall(schedule: CronSchedule, wall: number): boolean {
  const d = new Date(wall);
  const day = schedule.days.has(d.getUTCDate());
  const weekday = schedule.weekdays.has(d.getUTCDay());
  return (
    schedule.minutes.has(d.getUTCMinutes()) &&
    schedule.hours.has(d.getUTCHours()) &&
    schedule.months.has(d.getUTCMonth() + 1) &&
    (schedule.anyDay || schedule.anyWeekday ? day && weekday : day || weekday)
  );
}

test("a job for every hour runs by the clock as it reads: minute by minute, as a reference walk finds", () => {
  const cases = [
    ["*/15 * * * *", "Europe/Berlin", "2026-03-28T22:00:00Z"],
    ["*/15 * * * *", "Europe/Berlin", "2026-10-24T22:00:00Z"],
    ["* * * * *", "Europe/Berlin", "2026-10-25T00:30:00Z"],
    ["0 * * * *", "America/New_York", "2026-11-01T03:00:00Z"],
    ["0,30 * * * sun", "America/New_York", "2026-03-08T03:00:00Z"],
    ["45 * * * *", "Australia/Lord_Howe", "2026-04-04T12:00:00Z"],
    ["*/10 * * * *", "Australia/Lord_Howe", "2026-10-03T13:00:00Z"],
  ] as const;
  for (const [text, zone, from] of cases) {
    const schedule = parseCron(text);
    const expected: string[] = [];
    for (let minute = at(from) + 60_000; minute <= at(from) + 6 * 3_600_000; minute += 60_000)
      if (matchesWall(schedule, wallTimeAt(minute, zone))) expected.push(iso(minute));
    const found: string[] = [];
    for (let after = at(from); ; ) {
      const next = nextRunIn(schedule, after, zone) as number;
      if (next > at(from) + 6 * 3_600_000) break;
      found.push(iso(next));
      after = next;
    }
    expect({ text, zone, found }).toEqual({ text, zone, found: expected });
    expect(found.length).toBeGreaterThan(0);
  }
});
