import Redis from "ioredis";
import type { SentinelTarget } from "./sentinel-url.ts";

/** One event a Sentinel published: which Sentinel, when it was heard, its channel and text. */
export interface SentinelEvent {
  at: number;
  sentinel: string;
  name: string;
  detail: string;
}

/**
 * Every Sentinel's own events, as they happen: each publishes its own on a channel named after
 * the event (+sdown, +odown, +try-failover, +vote-for-leader, -failover-abort-not-elected,
 * +elected-leader, +switch-master…). A failover's story, told by the Sentinels that made it:
 * a bench counts split votes with it, a failing test shows it. A Sentinel that does not answer
 * within a second is left out.
 */
export function watchSentinelEvents(target: SentinelTarget) {
  const events: SentinelEvent[] = [];
  const subscribers = target.sentinels.map(({ host, port }) => {
    const sub = new Redis({
      host,
      port,
      password: target.sentinelPassword || undefined,
      connectTimeout: 1000,
      retryStrategy: () => null,
    });
    sub.on("error", () => {});
    sub.on("pmessage", (_pattern: string, channel: string, message: string) =>
      events.push({ at: performance.now(), sentinel: host, name: channel, detail: message }),
    );
    // two patterns: in a Redis glob `[+-]` would be a range, not the two characters
    sub.psubscribe("+*", "-*").catch(() => {});
    return sub;
  });
  const count = (name: string) => events.filter((e) => e.name === name).length;
  return {
    events,
    /** candidacies, and those that failed for want of a majority (a split vote) */
    elections: () => ({
      tries: count("+try-failover"),
      notElected: count("-failover-abort-not-elected"),
    }),
    /** the events as lines, with their time after `from` (a performance.now()) */
    story: (from: number) =>
      events.map(
        (e) => `${((e.at - from) / 1000).toFixed(1)} s ${e.sentinel} ${e.name} ${e.detail}`,
      ),
    stop: () => {
      for (const sub of subscribers) sub.disconnect();
    },
  };
}
