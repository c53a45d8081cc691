import {
  type Alert,
  type Backend,
  type Canary,
  DEFAULT_CANARY,
  parseAlert,
  parseBackend,
  parseCanary,
} from "../routing/model.ts";
import { promoteStep } from "../routing/steps.ts";
import { applyChange, ConflictError } from "./change.ts";
import { CANARY_FIELD, KEYS } from "./keys.ts";
import type { RedisClient, StateCommands } from "./redis.ts";

export async function listBackends(redis: StateCommands): Promise<Backend[]> {
  const raw = await redis.hgetall(KEYS.backends);
  return Object.values(raw)
    .map(parseBackend)
    .filter((b): b is Backend => b !== undefined)
    .sort((a, b) => a.track.localeCompare(b.track) || a.id.localeCompare(b.id));
}

export async function putBackend(redis: StateCommands, backend: Backend, actor: string) {
  const { old } = await applyChange(redis, {
    hash: KEYS.backends,
    field: backend.id,
    value: backend,
    mode: "upsert",
    kind: "backend",
    actor,
  });
  return old ? parseBackend(old) : undefined;
}

/** Removes a backend; answers false when there was none by that id. */
export const removeBackend = (redis: StateCommands, id: string, actor: string) =>
  removeField(redis, KEYS.backends, id, "backend", actor);

/** The canary as stored; never written yet, the default one at `fallbackWeight` (canary/weight). */
export async function readCanary(
  redis: StateCommands,
  fallbackWeight = DEFAULT_CANARY.weight,
): Promise<Canary> {
  return parseCanary((await redis.hget(KEYS.canary, CANARY_FIELD)) ?? undefined, fallbackWeight);
}

/**
 * A new fleet's canary record, at canary/weight, so that what every change overlays (an abort
 * and its resume, a weight, the first canary's steps) starts from the share the proxies use,
 * not the built-in 30%, and named after the release staging was set up with. Answers whether
 * it wrote one; a stored canary is left as it is.
 */
export async function ensureCanary(
  redis: StateCommands,
  canary: { weight: number; release: string },
  actor: string,
): Promise<boolean> {
  if (await redis.hexists(KEYS.canary, CANARY_FIELD)) return false;
  const { weight, release } = canary;
  await changeCanary(
    redis,
    { weight, generation: release, reason: `canary ${release} set up` },
    actor,
  );
  return true;
}

/** The alert the proxy's canary analysis raises; resuming or a new canary clears it. */
export const CANARY_ANALYSIS_ALERT = "canary-analysis";

/**
 * The canary and the version of the change that wrote it (undefined: never written), for a
 * change made only if nobody changed it since (changeCanary's ifVersion).
 */
export async function readCanaryVersion(
  redis: StateCommands,
): Promise<{ canary: Canary; version: number | undefined }> {
  const json = (await redis.hget(KEYS.canary, CANARY_FIELD)) ?? undefined;
  let version: unknown;
  try {
    version = json ? (JSON.parse(json) as { version?: unknown }).version : undefined;
  } catch {
    version = undefined;
  }
  return { canary: parseCanary(json), version: typeof version === "number" ? version : undefined };
}

export async function changeCanary(
  redis: StateCommands,
  patch: Partial<Canary>,
  actor: string,
  ifVersion?: number,
): Promise<{ old: Canary; now: Canary }> {
  const result = await applyChange(redis, {
    hash: KEYS.canary,
    field: CANARY_FIELD,
    value: patch,
    mode: "merge",
    defaults: DEFAULT_CANARY,
    kind: "canary",
    actor,
    ...(ifVersion === undefined ? {} : { ifVersion }),
  });
  return { old: parseCanary(result.old || undefined), now: parseCanary(result.now) };
}

/**
 * `canary promote`, from the CLI or the admin API: the next step now, made only if nobody
 * changed the canary since it was read. Answers the step taken, or why not.
 */
export async function promoteCanary(
  redis: StateCommands,
  actor: string,
): Promise<{ line: string; now: Canary } | { fault: string }> {
  const { canary, version } = await readCanaryVersion(redis);
  const move = promoteStep(canary, Date.now());
  if ("fault" in move) return move;
  try {
    const { now } = await changeCanary(redis, move.patch, actor, version);
    return { line: move.line, now };
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
    return {
      fault:
        "the canary changed while this ran (a step, or someone else) — look at it again (bun run canary show), then promote",
    };
  }
}

export async function raiseAlert(redis: StateCommands, alert: Alert, actor: string) {
  await applyChange(redis, {
    hash: KEYS.alerts,
    field: alert.id,
    value: alert,
    mode: "upsert",
    kind: "alert",
    actor,
  });
}

/** Clears an alert; answers false when it was not firing. */
export const clearAlert = (redis: StateCommands, id: string, actor: string) =>
  removeField(redis, KEYS.alerts, id, "alert", actor);

async function removeField(
  redis: StateCommands,
  hash: string,
  field: string,
  kind: string,
  actor: string,
) {
  if (!(await redis.hexists(hash, field))) return false;
  await applyChange(redis, { hash, field, value: undefined, mode: "update", kind, actor });
  return true;
}

export async function listAlerts(redis: StateCommands): Promise<Alert[]> {
  const raw = await redis.hgetall(KEYS.alerts);
  return Object.values(raw)
    .map(parseAlert)
    .filter((a): a is Alert => a !== undefined);
}

/**
 * A host that left the fleet (scaled in, or replaced): its figures and its alerts go with it,
 * so no monitor goes on reporting it silent and no alert of it holds the canary back.
 */
export async function forgetHost(redis: RedisClient, name: string, actor: string): Promise<void> {
  // the replacement's mark with the figures, at once: a monitor sees both or neither
  await redis.del(KEYS.host(name), KEYS.history(name), KEYS.replacing(name));
  for (const alert of await listAlerts(redis))
    if (alert.source === name) await clearAlert(redis, alert.id, actor);
}
