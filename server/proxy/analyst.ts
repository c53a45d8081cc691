import type { RedisClient } from "../shared/state/redis.ts";
import { CANARY_ANALYSIS_ALERT, changeCanary, raiseAlert } from "../shared/state/routing.ts";
import { type AnalysisSettings, type ErrorWindow, judge } from "./analysis.ts";
import type { Routing } from "./routing.ts";

const ACTOR = "dropship-proxy canary analysis";

/**
 * Once a second, while staging takes traffic, compares its 5xx rate (and, with slow_after, its
 * share of slow answers) with production's and aborts the canary when it does worse: audited,
 * and raised as an alert that guards it.
 */
export function startCanaryAnalysis(
  routing: Routing,
  window: ErrorWindow,
  redis: RedisClient,
  settings: {
    window: number;
    min_requests: number;
    max_error_rate_increase: number;
    slow_after: number;
    max_slow_rate_increase: number;
  },
  /** each second's verdict in words, for the status page */
  said: (why: string) => void = () => {},
) {
  const analysis: AnalysisSettings = {
    windowMs: settings.window,
    minRequests: settings.min_requests,
    maxErrorRateIncrease: settings.max_error_rate_increase,
    slowAfterMs: settings.slow_after,
    maxSlowRateIncrease: settings.max_slow_rate_increase,
  };
  let saving = false;
  const timer = setInterval(async () => {
    if (saving) return;
    if (routing.blockedBecause !== undefined) {
      // staging takes no traffic: start afresh when it does again
      window.reset();
      said("not judging: staging takes no traffic");
      return;
    }
    const verdict = judge(window.totals(Date.now()), analysis);
    said(verdict.why);
    if (!verdict.abort) return;
    saving = true;
    try {
      await changeCanary(
        redis,
        { state: "aborted", reason: `canary analysis: ${verdict.why}` },
        ACTOR,
      );
      await raiseAlert(
        redis,
        {
          id: CANARY_ANALYSIS_ALERT,
          source: "dropship-proxy",
          role: "proxy",
          summary: verdict.why,
          since: new Date().toISOString(),
          canary: true,
        },
        ACTOR,
      );
      window.reset();
      console.error(`dropship-proxy: canary aborted — ${verdict.why}`);
    } catch (error) {
      console.error(
        `dropship-proxy: could not abort the canary (${(error as Error).message}); retrying`,
      );
    } finally {
      saving = false;
    }
  }, 1000);
  return { stop: () => clearInterval(timer) };
}
