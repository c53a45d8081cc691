import type { KEYS } from "./keys.ts";
import type { RedisClient } from "./redis.ts";

/** Entries kept per event stream; older ones are trimmed. */
const KEPT = "1000";

export type EventStream = typeof KEYS.deploys | typeof KEYS.scaling;

/** Appends one event (flat string fields) to a stream of deploys or scaling events. */
export async function recordEvent(
  redis: RedisClient,
  stream: EventStream,
  fields: Record<string, string>,
): Promise<void> {
  await redis.xadd(stream, "MAXLEN", "~", KEPT, "*", ...Object.entries(fields).flat());
}

/** The newest `count` events of a stream, newest first, as plain records. */
export async function recentEvents(
  redis: RedisClient,
  stream: EventStream,
  count: number,
): Promise<Record<string, string>[]> {
  const entries = await redis.xrevrange(stream, "+", "-", "COUNT", count);
  return entries.map(([, fields]) => {
    const event: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2)
      event[fields[i] as string] = fields[i + 1] as string;
    return event;
  });
}
