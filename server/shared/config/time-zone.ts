/**
 * IANA time zones, for schedules that follow a place's clock. A wall time is written here as
 * the milliseconds it would be in UTC (2026-03-29 02:30 in Berlin is Date.UTC(2026, 2, 29, 2,
 * 30)); an instant is a real moment. The zone rules are the ICU data Bun carries.
 */

const DAY = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterOf(zone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(zone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(zone, formatter);
  }
  return formatter;
}

/** Whether `name` is a time zone this runtime knows (Europe/Berlin, UTC, America/New_York). */
export function isTimeZone(name: string): boolean {
  if (name.trim() === "" || name !== name.trim()) return false;
  try {
    formatterOf(name);
    return true;
  } catch {
    return false;
  }
}

/** The wall time in `zone` at `instant`, to the second. */
export function wallTimeAt(instant: number, zone: string): number {
  const parts: Record<string, number> = {};
  for (const { type, value } of formatterOf(zone).formatToParts(instant))
    if (type !== "literal") parts[type] = Number(value);
  return Date.UTC(
    parts.year ?? 0,
    (parts.month ?? 1) - 1,
    parts.day ?? 1,
    parts.hour ?? 0,
    parts.minute ?? 0,
    parts.second ?? 0,
  );
}

/** How far `zone`'s clock is ahead of UTC at `instant`, in ms (whole seconds). */
export function offsetAt(instant: number, zone: string): number {
  const second = Math.floor(instant / 1000) * 1000;
  return wallTimeAt(second, zone) - second;
}

/**
 * The instants at which `zone`'s clock shows `wall`, earliest first: one on most days, two
 * in the hour a clock turned back shows twice, none in the hour a clock skips.
 */
export function instantsOf(wall: number, zone: string): number[] {
  // a clock changes at most once a day, so the offsets a day either side are the only ones
  const offsets = new Set([offsetAt(wall - DAY, zone), offsetAt(wall + DAY, zone)]);
  const instants = [...offsets]
    .map((offset) => wall - offset)
    .filter((instant) => wallTimeAt(instant, zone) === wall);
  return [...new Set(instants)].sort((a, b) => a - b);
}

/**
 * The instant a wall time the clock skips stands for: read with the offset before the jump,
 * so 02:30 on the night Berlin goes from 02:00 to 03:00 is 03:30 (as RFC 5545 and
 * Temporal's "compatible" read it).
 */
export function skippedWallTime(wall: number, zone: string): number {
  return wall - offsetAt(wall - DAY, zone);
}
