import { replaceHost } from "../../pipeline/heal.ts";
import type { ScaleDeps } from "../../pipeline/scale.ts";
import { CloudError } from "../shared/cloud/digitalocean.ts";
import type { RoleName } from "../shared/config/schema.ts";
import { healthUrlOf } from "../shared/roles.ts";
import { redisPasswordFor } from "../shared/state/acl.ts";
import { listHosts } from "../shared/state/hosts.ts";
import { repointSentinel, type SentinelView, sentinelView } from "../shared/state/sentinel.ts";
import { currentSentinels } from "../shared/state/sentinel-fleet.ts";
import { isSentinelUrl, type SentinelTarget } from "../shared/state/sentinel-url.ts";
import type { ProvisionBreaker } from "./breaker.ts";
import { type HostFacts, planHealing, sentinelsToRepoint } from "./heal.ts";

/** Whether the cloud API answers 404 for the droplet (any other answer or failure: no). */
async function goneById(deps: ScaleDeps, id: number): Promise<boolean> {
  try {
    await deps.provider.getDroplet(id);
    return false;
  } catch (error) {
    return error instanceof CloudError && error.status === 404;
  }
}

/** Whether a health URL answers 200 within two seconds. */
export async function probeHealth(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

/**
 * Self-healing in the control process: every `intervalMs` it lists the deployment's droplets,
 * reads the monitors' latest figures and checks every host's health, then asks `planHealing`
 * which hosts to replace and replaces them (one per role at a time, in the background, so the
 * next ticks go on watching). Replacements count toward the breaker the autoscaler uses.
 */
export function startHealer(
  deps: ScaleDeps,
  breaker: ProvisionBreaker,
  intervalMs: number,
  probe: (url: string) => Promise<boolean> = probeHealth,
) {
  const { config, say } = deps;
  const failingSince = new Map<string, number>();
  const missing = new Map<string, number>();
  const busy = new Set<RoleName>();
  const said = new Set<string>();
  const running = new Set<Promise<unknown>>();
  const staleSince = new Map<string, number>();
  const sayOnce = (line: string) => {
    if (said.has(line)) return;
    said.add(line);
    say(`heal: ${line}`);
  };
  // hosts already replaced: a tick that read the inventory before the replacement's commit, and
  // judged after it, would otherwise plan the same host again
  const replaced = new Set<string>();
  let ticking = false;
  const look = async () => {
    if (ticking) return;
    ticking = true;
    try {
      const { hosts } = await deps.repo.read();
      for (const name of replaced) if (!hosts.some((h) => h.name === name)) replaced.delete(name);
      const listed = await deps.provider
        .listByTag(config.digitalocean.tag)
        .then((droplets) => new Set(droplets.map((d) => d.id)))
        .catch((error) => {
          sayOnce(`cannot list droplets (${(error as Error).message}); judging by health alone`);
          return undefined;
        });
      // without the monitors' figures (Redis away) nobody is judged silent: a Redis outage
      // can fail every app's health at once, and that is not a reason to replace them all
      const reading = listHosts(deps.redis).catch(() => undefined);
      // the Sentinels are asked meanwhile: a lost host's Sentinel costs a connect timeout
      const asking = sentinelsOf(deps);
      asking.catch(() => {}); // awaited below, where a failure is the tick's to report
      const now = Date.now();
      await Promise.all(
        hosts.map(async (h) => {
          if (listed) {
            missing.set(h.name, listed.has(h.dropletId) ? 0 : (missing.get(h.name) ?? 0) + 1);
            // missing from one listing: asked for by id, a 404 says it is gone now, a tick
            // sooner than a second listing would (a droplet a listing made mid-change missed
            // is found)
            if (missing.get(h.name) === 1 && (await goneById(deps, h.dropletId)))
              missing.set(h.name, 2);
          }
          // a droplet the API says is gone is not probed: it cannot answer, and waiting out
          // its probe's timeout would only delay its replacement
          if ((missing.get(h.name) ?? 0) >= 2) return;
          if (await probe(healthUrlOf(config, h.role, h.address))) failingSince.delete(h.name);
          else if (!failingSince.has(h.name)) failingSince.set(h.name, now);
        }),
      );
      const reports = await reading;
      const facts: HostFacts[] = hosts
        .filter((host) => !replaced.has(host.name))
        .map((host) => ({
          host,
          missingListings: missing.get(host.name) ?? 0,
          lastReportAt: reports ? reports.find((r) => r.host === host.name)?.at : now,
          failingSince: failingSince.get(host.name) ?? null,
        }));
      const sentinels = await asking;
      const plan = planHealing(config.heal.after, {
        now,
        hosts: facts,
        busy,
        breakerOpen: breaker.open,
        redis: sentinels
          ? {
              replica: true,
              primary: sentinels.view.primary,
              failingOver: sentinels.view.failingOver,
            }
          : { replica: false },
      });
      if (sentinels) await repointStale(sentinels, now);
      for (const line of plan.held) sayOnce(line);
      for (const { host, why } of plan.replace) {
        busy.add(host.role);
        const replacing = replaceHost(deps, host, why)
          .then((record) => {
            breaker.succeeded();
            if (record) replaced.add(host.name);
            else say(`heal: ${host.name} left the inventory meanwhile; nothing to replace`);
          })
          .catch((error) => {
            breaker.failed((error as Error).message);
            say(
              `heal: replacing ${host.name} failed (${breaker.failures} in a row${breaker.open ? "; stopped" : ""}): ${(error as Error).message}`,
            );
          })
          .finally(() => {
            busy.delete(host.role);
            failingSince.delete(host.name);
            missing.delete(host.name);
            running.delete(replacing);
          });
        running.add(replacing);
      }
    } catch (error) {
      say(`heal: cannot read the fleet (${(error as Error).message}); trying again`);
    } finally {
      ticking = false;
    }
  };
  /** Stale Sentinels (see sentinelsToRepoint) are pointed at the majority's primary. */
  const repointStale = async ({ target, view }: Sentinels, now: number) => {
    const keyOf = (s: { host: string; port: number }) => `${s.host}:${s.port}`;
    const stale = new Map(view.stale.map((s) => [keyOf(s), s]));
    for (const key of staleSince.keys()) if (!stale.has(key)) staleSince.delete(key);
    for (const key of stale.keys()) if (!staleSince.has(key)) staleSince.set(key, now);
    const quorum = Number(view.settings.quorum ?? 2);
    const seen = { agreeing: view.agreeing, quorum, failingOver: view.failingOver, staleSince };
    for (const key of sentinelsToRepoint(seen, now)) {
      staleSince.delete(key);
      const authPass = redisPasswordFor(target.password, "sentinel");
      const fault = await repointSentinel(
        stale.get(key) as { host: string; port: number },
        target,
        view.settings,
        authPass,
      );
      say(
        fault
          ? `heal: the Sentinel at ${key} names another primary; pointing it at ${view.primary} failed (${fault}); trying again later`
          : `heal: the Sentinel at ${key} named another primary than the other ${view.agreeing}; pointed it at ${view.primary}`,
      );
    }
  };
  // the look under way, so stop() waits for it: one that has read the fleet may yet start a
  // replacement, which a healer started after this one (an edited config) would not know of
  let inFlight: Promise<void> = Promise.resolve();
  const tick = (): Promise<void> => {
    if (!ticking) inFlight = look();
    return inFlight;
  };
  const timer = setInterval(() => void tick(), intervalMs);
  return {
    tick,
    /** resolves when the replacements under way have finished */
    idle: () => Promise.all([...running]),
    /** no more looks; resolves once the look and the replacements under way have finished */
    stop: async () => {
      clearInterval(timer);
      await inFlight;
      await Promise.all([...running]);
    },
  };
}

interface Sentinels {
  target: SentinelTarget;
  view: SentinelView;
}

/** The Sentinels there are now and what they say, where Redis has a replica. */
async function sentinelsOf(deps: ScaleDeps): Promise<Sentinels | undefined> {
  const controlUrl = deps.playbookEnv.REDIS_URL;
  if (!controlUrl || !isSentinelUrl(controlUrl)) return undefined;
  const target = currentSentinels(controlUrl, (await deps.repo.read()).hosts);
  return { target, view: await sentinelView(target) };
}
