import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { addHost, type FleetHostRecord, removeHost } from "../gitops/model.ts";
import { hostCommands } from "../server/shared/host/layout.ts";
import { backendIdFor } from "../server/shared/routing/model.ts";
import { targetOf, withSsh } from "../server/shared/ssh.ts";
import { recordEvent } from "../server/shared/state/events.ts";
import { markReplacing, unmarkReplacing } from "../server/shared/state/hosts.ts";
import { KEYS } from "../server/shared/state/keys.ts";
import { forgetHost, putBackend, removeBackend } from "../server/shared/state/routing.ts";
import { resetSentinels } from "../server/shared/state/sentinel.ts";
import {
  currentSentinels,
  repointSentinelsIn,
  sentinelsParam,
} from "../server/shared/state/sentinel-fleet.ts";
import { isSentinelUrl } from "../server/shared/state/sentinel-url.ts";
import { readPinnedKeys } from "./fleet.ts";
import { withRoleLock } from "./lock.ts";
import {
  appUrlOf,
  provisionHost,
  releaseToGive,
  removeRedisUser,
  type ScaleDeps,
} from "./scale.ts";
import { scaleMail } from "./scale-mail.ts";

const ACTOR = "dropship heal";

/**
 * Replaces a dead host the way a scale-out adds one — create, converge, deliver the release the
 * role runs, check health — then swaps it in: the app's backend in the proxy's rotation (a proxy
 * joins the load balancer by its tag; a lone proxy's domains are pointed at the new one), the
 * old droplet deleted if it still exists, one inventory commit `heal: replaced <old> (<why>)
 * with <new>`, and a notice. Holds the role's lock, like deploys and scaling, and checks again
 * under it that the host is still in the inventory (scale-in may have removed it meanwhile).
 * A failure deletes the new droplet and leaves the inventory as it was.
 */
export function replaceHost(
  deps: ScaleDeps,
  victim: FleetHostRecord,
  why: string,
): Promise<FleetHostRecord | undefined> {
  return withRoleLock(
    join(deps.workDir, "locks"),
    victim.role,
    `heal ${victim.name}`,
    deps.config.pipeline.lock_timeout,
    deps.say,
    async () => {
      if (!(await deps.repo.read()).hosts.some((h) => h.name === victim.name)) return undefined;
      return swapIn(deps, victim, why);
    },
  );
}

async function swapIn(
  deps: ScaleDeps,
  victim: FleetHostRecord,
  why: string,
): Promise<FleetHostRecord> {
  const { config, provider, repo, say } = deps;
  say(`▸ heal: replacing ${victim.name} (${why})`);
  // the monitors hold the host's silence back meanwhile: this heal's mail tells it
  await markReplacing(deps.redis, victim.name, why).catch((error) =>
    say(`! the monitors may mail ${victim.name}'s silence too: ${(error as Error).message}`),
  );
  const unmark = () => unmarkReplacing(deps.redis, victim.name).catch(() => undefined);
  const record = await provisionHost(
    deps,
    victim.role,
    releaseToGive(deps, victim.role, victim.release),
    victim.name,
  ).catch(async (error) => {
    await unmark();
    throw error;
  });
  const app = victim.role === "production" || victim.role === "staging";
  try {
    if (victim.role === "proxy") await pointDomains(deps, record);
    else if (app) {
      const url = appUrlOf(config, record);
      await putBackend(
        deps.redis,
        {
          id: backendIdFor(url),
          url,
          track: victim.role as "production" | "staging",
          draining: false,
        },
        ACTOR,
      );
      await removeBackend(deps.redis, backendIdFor(appUrlOf(config, victim)), ACTOR);
    }
    say(`▸ delete ${victim.name} (droplet ${victim.dropletId}) if it still exists`);
    await provider.deleteDroplet(victim.dropletId, victim.name);
    await removeRedisUser(deps, victim.name, victim.name);
    await forgetHost(deps.redis, victim.name, ACTOR).catch((error) =>
      say(`! ${victim.name}'s figures and alerts stay in Redis: ${(error as Error).message}`),
    );
    await repo.edit(
      (inventory) => addHost(removeHost(inventory, victim.name), record),
      `heal: replaced ${victim.name} (${why}) with ${record.name}`,
    );
  } catch (error) {
    say(`✗ ${(error as Error).message} — undoing: deleting ${record.name}`);
    await unmark(); // first: an undo that fails must not leave the silence held back
    if (app)
      await removeBackend(deps.redis, backendIdFor(appUrlOf(config, record)), ACTOR).catch(
        () => undefined,
      );
    await removeRedisUser(deps, record.name, victim.name);
    await provider.deleteDroplet(record.dropletId, record.name);
    throw error;
  }
  say(`✓ ${record.name} replaces ${victim.name}`);
  if (victim.role === "redis" || victim.role === "proxy")
    await nameLiveSentinels(deps).catch((error) =>
      say(`! the hosts still name the Sentinels they had: ${(error as Error).message}`),
    );
  forgetTheDead(deps, victim);
  await recordEvent(deps.redis, KEYS.scaling, {
    action: "heal",
    host: record.name,
    why: `replaced ${victim.name}: ${why}`,
    result: "replaced",
    at: new Date().toISOString(),
  }).catch(() => undefined);
  deps.notify?.(
    scaleMail({ kind: "replaced", old: victim, host: record, why, fleet: await repo.read() }),
  );
  return record;
}

/**
 * A lone proxy is the public entry: its domains follow it to the new one (on DigitalOcean DNS;
 * elsewhere the log says which record to change). Behind a load balancer nothing moves.
 */
async function pointDomains(deps: ScaleDeps, proxy: FleetHostRecord): Promise<void> {
  if ((await deps.repo.read()).loadBalancer) return;
  const entry = proxy.publicAddress ?? proxy.address;
  for (const domain of deps.config.proxy.tls.domains) {
    const pointed = await deps.provider.pointDomain(domain, entry);
    deps.say(
      pointed === "not-hosted"
        ? `! ${domain} is not on DigitalOcean DNS: point its A record at ${entry} by hand`
        : `▸ ${domain} A ${entry} (${pointed})`,
    );
  }
}

/**
 * A Sentinel's host was replaced: every host's services are told the Sentinels there are now,
 * for their next start (a running ioredis client has learned them from the Sentinels it asks),
 * and so is the control machine's fleet.env. Otherwise, once every host a URL names has been
 * replaced, a restarted service (a deploy) or a command finds no Sentinel at all. Never fatal
 * (the replacement is made): a host that cannot be reached keeps the list it has, and the log
 * says which.
 */
async function nameLiveSentinels(deps: ScaleDeps): Promise<void> {
  const controlUrl = deps.playbookEnv.REDIS_URL;
  if (!controlUrl || !isSentinelUrl(controlUrl)) return;
  const { hosts } = await deps.repo.read();
  const param = sentinelsParam(hosts);
  const pinned = readPinnedKeys(deps.knownHostsFile);
  let told = 0;
  await Promise.all(
    hosts.map(async (host) => {
      const hostPublicKey = pinned.get(host.address);
      try {
        if (!hostPublicKey) throw new Error(`no pinned host key in ${deps.knownHostsFile}`);
        await withSsh(targetOf({ address: host.address, hostPublicKey }, deps), (ssh) =>
          ssh.check(hostCommands.pointSentinels(param)),
        );
        told++;
      } catch (error) {
        deps.say(
          `! ${host.name} still names the Sentinels it had (${(error as Error).message}); bun run setup tells it`,
        );
      }
    }),
  );
  if (deps.fleetEnv && existsSync(deps.fleetEnv)) {
    const text = readFileSync(deps.fleetEnv, "utf8");
    const now = repointSentinelsIn(text, param);
    if (now !== text) writeFileSync(deps.fleetEnv, now, { mode: 0o600 });
  }
  deps.say(`▸ ${told} of ${hosts.length} hosts name the Sentinels there are now`);
}

/** The resets under way, one after another: two replacements never reset Sentinels at once. */
let resetting: Promise<unknown> = Promise.resolve();

/**
 * A Redis or proxy host ran a Sentinel: every Sentinel forgets the dead one (and a dead
 * replica), so the majority a failover needs counts only Sentinels that exist. In the
 * background, one Sentinel at a time, each once the one before has found the others again (30 s
 * apart at most), and only while the primary is healthy (see resetSentinels); until then the
 * dead one is merely counted. Where Redis has no replica there
 * are no Sentinels.
 */
function forgetTheDead(deps: ScaleDeps, victim: FleetHostRecord): void {
  const controlUrl = deps.playbookEnv.REDIS_URL;
  if (!controlUrl || !isSentinelUrl(controlUrl)) return;
  if (victim.role !== "redis" && victim.role !== "proxy") return;
  resetting = resetting
    .then(async () => {
      const target = currentSentinels(controlUrl, (await deps.repo.read()).hosts);
      const faults = await resetSentinels(target, { spacingMs: 30_000, waitMs: 300_000 });
      for (const fault of faults)
        deps.say(`! a Sentinel did not forget ${victim.name} (${fault}); it counts it until reset`);
      if (faults.length === 0) deps.say(`▸ every Sentinel has forgotten ${victim.name}`);
    })
    .catch((error) => deps.say(`! resetting the Sentinels: ${(error as Error).message}`));
}
