import { instantsOf, offsetAt, skippedWallTime, wallTimeAt } from "./time-zone.ts";

/**
 * Cron schedules, as crontab(5) writes them: five fields (minute, hour, day of the month,
 * month, day of the week), read on UTC's clock (nextRun) or a time zone's (nextRunIn). A field
 * is `*`, a number, a range `a-b`, a step `*\/n` or `a-b/n`, or a list of those; months and
 * days may be named (`jan`, `mon-fri`); 7 is Sunday as 0 is. `@hourly`, `@daily`
 * (`@midnight`), `@weekly`, `@monthly` and `@yearly` (`@annually`) stand for their five
 * fields. As in Vixie cron, when both the day of the month and the day of the week are
 * restricted (neither starts with `*`), a day that matches either runs.
 */
export interface CronSchedule {
  text: string;
  minutes: ReadonlySet<number>;
  hours: ReadonlySet<number>;
  days: ReadonlySet<number>;
  months: ReadonlySet<number>;
  weekdays: ReadonlySet<number>;
  /** the day of the month's field starts with `*` */
  anyDay: boolean;
  /** the day of the week's field starts with `*` */
  anyWeekday: boolean;
}

export class CronError extends Error {
  override name = "CronError";
}

const MACROS: Record<string, string> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

const MONTH_NAMES = [
  "jan",
  "feb",
  "mar",
  "apr",
  "may",
  "jun",
  "jul",
  "aug",
  "sep",
  "oct",
  "nov",
  "dec",
];
const DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

interface Field {
  label: string;
  min: number;
  max: number;
  names?: string[];
  /** the first name's number */
  namesFrom?: number;
}

const FIELDS: Field[] = [
  { label: "minute", min: 0, max: 59 },
  { label: "hour", min: 0, max: 23 },
  { label: "day of the month", min: 1, max: 31 },
  { label: "month", min: 1, max: 12, names: MONTH_NAMES, namesFrom: 1 },
  { label: "day of the week", min: 0, max: 7, names: DAY_NAMES, namesFrom: 0 },
];

const EXAMPLE = "like */15 * * * * (every 15 minutes) or 30 3 * * mon-fri (03:30 on weekdays)";
const MINUTE = 60_000;
/** Far enough to find a 29 February (every 4 years, but 2100 skips one). */
const HORIZON_MS = 9 * 366 * 24 * 3_600_000;

/** Reads a schedule; a CronError names the field at fault and says what it takes. */
export function parseCron(text: string): CronSchedule {
  const trimmed = text.trim();
  if (trimmed.startsWith("@")) {
    const expanded = MACROS[trimmed.toLowerCase()];
    if (!expanded)
      throw new CronError(
        `${JSON.stringify(text)} is not a schedule: the shorthands are ${Object.keys(MACROS).join(", ")} (@reboot has no meaning here)`,
      );
    return { ...parseFields(expanded), text: trimmed };
  }
  const schedule = { ...parseFields(trimmed), text: trimmed };
  if (nextRun(schedule, Date.UTC(2000, 0, 1)) === undefined)
    throw new CronError(
      `${JSON.stringify(text)} never runs: no month has that day (a day of the month past the month's last, like 30 in February)`,
    );
  return schedule;
}

function parseFields(text: string): Omit<CronSchedule, "text"> {
  const parts = text.split(/\s+/).filter(Boolean);
  if (parts.length !== 5)
    throw new CronError(
      `${JSON.stringify(text)} has ${parts.length} field${parts.length === 1 ? "" : "s"}: a schedule has five (minute hour day-of-month month day-of-week), ${EXAMPLE}`,
    );
  const [minutes, hours, days, months, weekdays] = parts.map((part, i) =>
    parseField(part, FIELDS[i] as Field),
  ) as Set<number>[];
  // 7 is Sunday too
  if (weekdays?.delete(7)) weekdays.add(0);
  return {
    minutes: minutes as Set<number>,
    hours: hours as Set<number>,
    days: days as Set<number>,
    months: months as Set<number>,
    weekdays: weekdays as Set<number>,
    anyDay: (parts[2] as string).startsWith("*"),
    anyWeekday: (parts[4] as string).startsWith("*"),
  };
}

function parseField(text: string, field: Field): Set<number> {
  const values = new Set<number>();
  const fault = (what: string) =>
    new CronError(
      `the ${field.label} field ${JSON.stringify(text)} ${what}: use ${field.min}–${field.max}${field.names ? ` or names (${field.names.slice(0, 3).join(", ")}, …)` : ""}, *, a range a-b, a step */n, or a list of them`,
    );
  for (const item of text.split(",")) {
    const [range, stepText, extra] = item.split("/");
    if (range === undefined || range === "" || extra !== undefined) throw fault("is not read");
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) < 1)
        throw fault(`has the step ${JSON.stringify(stepText)}, not a whole number from 1`);
      step = Number(stepText);
    }
    let low: number;
    let high: number;
    if (range === "*") {
      [low, high] = [field.min, field.max];
    } else {
      const ends = range.split("-");
      if (ends.length > 2) throw fault("is not read");
      low = fieldValue(ends[0] as string, field, fault);
      high = ends.length === 2 ? fieldValue(ends[1] as string, field, fault) : low;
      // a single value with a step runs from it to the field's end, as cron reads it
      if (ends.length === 1 && stepText !== undefined) high = field.max;
      if (high < low) throw fault(`runs backwards (${low} to ${high})`);
    }
    for (let value = low; value <= high; value += step) values.add(value);
  }
  return values;
}

function fieldValue(text: string, field: Field, fault: (what: string) => CronError): number {
  const named = field.names?.indexOf(text.toLowerCase()) ?? -1;
  if (named >= 0) return named + (field.namesFrom ?? 0);
  if (!/^\d+$/.test(text)) throw fault(`has ${JSON.stringify(text)}, which is not a value`);
  const value = Number(text);
  if (value < field.min || value > field.max) throw fault(`has ${value}, out of range`);
  return value;
}

function dayMatches(schedule: CronSchedule, at: Date): boolean {
  const day = schedule.days.has(at.getUTCDate());
  const weekday = schedule.weekdays.has(at.getUTCDay());
  return schedule.anyDay || schedule.anyWeekday ? day && weekday : day || weekday;
}

/**
 * The first minute the schedule runs strictly after `after` (ms since the epoch, UTC);
 * undefined when it never does within nine years (a day no month has).
 */
export function nextRun(schedule: CronSchedule, after: number): number | undefined {
  const at = new Date(Math.floor(after / MINUTE) * MINUTE + MINUTE);
  const limit = after + HORIZON_MS;
  while (at.getTime() <= limit) {
    if (!schedule.months.has(at.getUTCMonth() + 1)) {
      at.setUTCMonth(at.getUTCMonth() + 1, 1);
      at.setUTCHours(0, 0, 0, 0);
    } else if (!dayMatches(schedule, at)) {
      at.setUTCDate(at.getUTCDate() + 1);
      at.setUTCHours(0, 0, 0, 0);
    } else if (!schedule.hours.has(at.getUTCHours())) {
      at.setUTCHours(at.getUTCHours() + 1, 0, 0, 0);
    } else if (!schedule.minutes.has(at.getUTCMinutes())) {
      at.setUTCMinutes(at.getUTCMinutes() + 1, 0, 0);
    } else {
      return at.getTime();
    }
  }
  return undefined;
}

/** More than any clock change (Lord Howe's is 30 minutes, most are an hour). */
const CLOCK_CHANGE_BOUND_MS = 3 * 3_600_000;
/** Shorter than any two clock changes in a row are apart. */
const ONE_OFFSET_SPAN_MS = 30 * 24 * 3_600_000;

/**
 * The first minute the schedule runs strictly after `after` on `zone`'s clock (an IANA name).
 * Where the clock changes, as cronie does: a schedule for every hour (its hour field `*`)
 * follows the clock as it reads, so it runs in both passes of an hour the clock turns back
 * and not in one it skips; a schedule at set hours runs on the day all the same, once: at the
 * first pass of a repeated hour, and a skipped time as late as the jump (02:30 → 03:30).
 */
export function nextRunIn(schedule: CronSchedule, after: number, zone: string): number | undefined {
  if (zone === "UTC") return nextRun(schedule, after);
  const offset = offsetAt(after, zone);
  const wall = nextRun(schedule, after + offset);
  if (wall === undefined) return undefined;
  // most of the time no clock changes near: the offset now holds until the next run
  const guess = wall - offset;
  if (
    guess - after < ONE_OFFSET_SPAN_MS &&
    offsetAt(after - CLOCK_CHANGE_BOUND_MS, zone) === offset &&
    offsetAt(guess + CLOCK_CHANGE_BOUND_MS, zone) === offset
  )
    return guess;
  return nearAClockChange(schedule, after, zone);
}

function nearAClockChange(schedule: CronSchedule, after: number, zone: string): number | undefined {
  const everyHour = schedule.hours.size === 24;
  // from a while before `after`'s wall time: past a clock turned back, the next run may show
  // an earlier time than `after` did
  let wall: number | undefined = wallTimeAt(after, zone) - CLOCK_CHANGE_BOUND_MS;
  let best: number | undefined;
  for (;;) {
    wall = nextRun(schedule, wall);
    if (wall === undefined) return best;
    // no later wall time can come before the best by more than a clock change
    if (best !== undefined && wall - CLOCK_CHANGE_BOUND_MS > best + offsetAt(best, zone))
      return best;
    const instants = instantsOf(wall, zone);
    const runs =
      instants.length === 0
        ? everyHour
          ? []
          : [skippedWallTime(wall, zone)]
        : everyHour
          ? instants
          : instants.slice(0, 1);
    for (const run of runs) if (run > after && (best === undefined || run < best)) best = run;
  }
}
