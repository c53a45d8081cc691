import { join } from "node:path";
import { roleLockHeld } from "../../pipeline/lock.ts";
import { type ScaleDeps, scaleIn, scaleOut } from "../../pipeline/scale.ts";
import { scaleMail } from "../../pipeline/scale-mail.ts";
import type { Config } from "../shared/config/schema.ts";
import { recentEvents } from "../shared/state/events.ts";
import { listHosts } from "../shared/state/hosts.ts";
import { KEYS } from "../shared/state/keys.ts";
import { readTraffic } from "../shared/state/traffic.ts";
import {
  afterActionSeen,
  decide,
  IDLE,
  kindOf,
  type Said,
  type ScaleState,
  worthSaying,
} from "./autoscale.ts";
import { ProvisionBreaker } from "./breaker.ts";
import { meanCpu } from "./metric.ts";

/**
 * The watched metric from the latest figures; undefined when there is none yet. CPU comes from
 * the monitors, requests per host from the proxies' rates over the production hosts.
 */
export async function readMetric(
  deps: ScaleDeps,
  config: Config,
  productionHosts: number,
): Promise<number | undefined> {
  if (config.autoscale.metric === "rps_per_host") {
    const proxies = await readTraffic(deps.redis, config.monitor.no_data);
    if (proxies.length === 0 || productionHosts === 0) return undefined;
    return proxies.reduce((sum, p) => sum + p.rps, 0) / productionHosts;
  }
  const role = config.autoscale.metric === "proxy_cpu" ? "proxy" : "production";
  return meanCpu(await listHosts(deps.redis), role, config.monitor.no_data, Date.now());
}

/**
 * The autoscaler in the control process: every `intervalMs` it reads the metric, asks the
 * policy, and scales one host at a time (the next tick waits for a provision to finish, so a
 * host still booting counts as capacity). Every decision that acts, waits or refuses is logged.
 */
export function startAutoscaler(
  deps: ScaleDeps,
  intervalMs: number,
  breaker: ProvisionBreaker = breakerFor(deps),
) {
  const { config, say } = deps;
  let state: ScaleState = IDLE;
  let busy = false;
  let lastSaid: Said | undefined;
  const policy = {
    upAbove: config.autoscale.up_above,
    downBelow: config.autoscale.down_below,
    forMs: config.autoscale.for,
    cooldownMs: config.autoscale.cooldown,
    min: config.autoscale.min,
    max: config.autoscale.max,
    maxFailures: config.autoscale.max_failures,
  };
  const look = async () => {
    if (busy) return;
    busy = true;
    try {
      const [latest] = await recentEvents(deps.redis, KEYS.scaling, 1);
      const seen = latest?.at ? Date.parse(latest.at) : Number.NaN;
      if (Number.isFinite(seen)) state = afterActionSeen(state, seen);
      const hosts = (await deps.repo.read()).hosts.filter((h) => h.role === "production").length;
      const value = await readMetric(deps, config, hosts);
      if (value === undefined) return;
      const deploying = roleLockHeld(join(deps.workDir, "locks"), "production");
      state = { ...state, failures: breaker.failures };
      const decision = decide(policy, state, {
        now: Date.now(),
        value,
        metric: config.autoscale.metric,
        hosts,
        deploying,
      });
      state = decision.state;
      const now = Date.now();
      if (worthSaying(lastSaid, decision, now)) {
        say(`autoscaler: ${decision.why}`);
        lastSaid = { kind: kindOf(decision.why), at: now };
      }
      if (decision.action === "none") return;
      try {
        // a failure's mail is the row's first: the breaker mails once more if it stops
        if (decision.action === "add")
          await scaleOut(deps, decision.why, { mailFailure: breaker.failures === 0 });
        else await scaleIn(deps, decision.why);
        breaker.succeeded();
      } catch (error) {
        const message = (error as Error).message;
        breaker.failed(message);
        say(`autoscaler: ${decision.action} failed (${breaker.failures} in a row): ${message}`);
      }
    } catch (error) {
      say(`autoscaler: cannot read the fleet (${(error as Error).message}); trying again`);
    } finally {
      busy = false;
    }
  };
  // the look under way, so stop() waits for it (and a tick asked for meanwhile is that look)
  let inFlight: Promise<void> = Promise.resolve();
  const tick = (): Promise<void> => {
    if (!busy) inFlight = look();
    return inFlight;
  };
  const timer = setInterval(() => void tick(), intervalMs);
  return {
    /** no more looks; resolves once a scale-out or scale-in under way has finished */
    stop: async () => {
      clearInterval(timer);
      await inFlight;
    },
    tick,
  };
}

/** The breaker scaling and healing share: open after autoscale/max_failures, with one mail. */
export function breakerFor(deps: Pick<ScaleDeps, "config" | "notify">): ProvisionBreaker {
  return new ProvisionBreaker(deps.config.autoscale.max_failures, (failures, error) =>
    deps.notify?.(scaleMail({ kind: "stopped", failures, error })),
  );
}
