import type { RedisClient } from "../shared/state/redis.ts";
import { rateBetween, reportTraffic } from "../shared/state/traffic.ts";

/** Every few seconds, this proxy's request rate into Redis; a failed write waits for the next. */
export function startTrafficReports(
  redis: RedisClient,
  proxy: string,
  count: () => number,
  intervalMs = 5000,
) {
  // the rate over the monotonic clock, which a wall-clock step cannot stretch or reverse
  let last = { count: count(), at: performance.now() };
  const timer = setInterval(() => {
    const now = { count: count(), at: performance.now() };
    const rps = Math.round(rateBetween(last, now) * 10) / 10;
    last = now;
    if (redis.status === "ready")
      reportTraffic(redis, { proxy, rps, at: Date.now() }).catch(() => undefined);
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
