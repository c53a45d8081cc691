import type { Static } from "@sinclair/typebox";
import { event } from "../records/checks.ts";
import { AUDIT_LENGTH, KEYS } from "./keys.ts";
import type { StateCommands } from "./redis.ts";
import type { StateEventRecord } from "./schema.ts";

/**
 * update: replace a field that must exist; upsert: replace or create it; merge: overlay the
 * given keys on the stored value (or on `defaults` when there is none), atomically.
 */
export type Mode = "update" | "upsert" | "merge";

export type StateEvent = Static<typeof StateEventRecord>;

export class MissingError extends Error {
  constructor(
    readonly hash: string,
    readonly field: string,
  ) {
    super(`${field} does not exist in ${hash}`);
    this.name = "MissingError";
  }
}

// One atomic step for every change of shared state: read the old value, write the new one
// stamped with the next global version, append the audit entry, publish the event. So no
// subscriber sees a change the audit lacks, and a newer version always wins in a mirror.
const CHANGE = `
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old and ARGV[3] == 'update' then return {'missing'} end
if ARGV[10] ~= '' and (not old or tostring(cjson.decode(old).version) ~= ARGV[10]) then
  return {'conflict'}
end
local version = redis.call('INCR', KEYS[2])
local now = ''
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  local value = cjson.decode(ARGV[2])
  if ARGV[3] == 'merge' then
    local base = cjson.decode(old or ARGV[9])
    for k, v in pairs(value) do base[k] = v end
    value = base
  end
  value.version = version
  value.updatedAt = ARGV[6]
  value.updatedBy = ARGV[5]
  now = cjson.encode(value)
  redis.call('HSET', KEYS[1], ARGV[1], now)
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[8], '*', 'kind', ARGV[4], 'target', ARGV[1],
  'actor', ARGV[5], 'at', ARGV[6], 'old', old or '', 'new', now)
redis.call('PUBLISH', ARGV[7], cjson.encode({hash = KEYS[1], field = ARGV[1], value = now,
  version = version}))
return {'changed', now, old or ''}
`;

export interface Change {
  hash: string;
  field: string;
  /** the new value; undefined deletes the field */
  value: object | undefined;
  mode: Mode;
  /** what the audit calls it: flag, backend, canary, alert */
  kind: string;
  actor: string;
  /** with merge: the value to overlay on when the field does not exist */
  defaults?: object;
  /**
   * only if the stored value still has this version (what the caller read and decided on);
   * otherwise nothing changes and ConflictError is thrown
   */
  ifVersion?: number;
}

/** A change made on condition (ifVersion) found the value changed since it was read. */
export class ConflictError extends Error {
  constructor(
    readonly hash: string,
    readonly field: string,
  ) {
    super(`${field} in ${hash} changed since it was read`);
    this.name = "ConflictError";
  }
}

/** Applies one change atomically; answers the old and new JSON ("" when absent). */
export async function applyChange(
  redis: StateCommands,
  change: Change,
): Promise<{ old: string; now: string }> {
  const reply = (await redis.eval(
    CHANGE,
    3,
    change.hash,
    KEYS.version,
    KEYS.audit,
    change.field,
    change.value === undefined ? "" : JSON.stringify(change.value),
    change.mode,
    change.kind,
    change.actor,
    new Date().toISOString(),
    KEYS.events,
    String(AUDIT_LENGTH),
    JSON.stringify(change.defaults ?? {}),
    change.ifVersion === undefined ? "" : String(change.ifVersion),
  )) as string[];
  if (reply[0] === "missing") throw new MissingError(change.hash, change.field);
  if (reply[0] === "conflict") throw new ConflictError(change.hash, change.field);
  await replicated(redis);
  return { now: reply[1] ?? "", old: reply[2] ?? "" };
}

/** How long a change waits for a replica to confirm it (WAIT). */
export const REPLICA_WAIT_MS = 2000;

/**
 * Where the primary has a replica connected, a change counts as made only once a replica has
 * it too (WAIT 1): so a failover never loses a change someone was told was made. A single
 * server, or a primary whose replica is gone (a failover just happened and the replacement is
 * on its way), has nothing to wait for: changes go on, on the primary alone, rather than stop.
 */
export async function replicated(redis: StateCommands): Promise<void> {
  const client = redis as StateCommands & {
    options?: { sentinels?: unknown[] | null };
    call?: (...args: string[]) => Promise<unknown>;
  };
  if (!client.options?.sentinels?.length || !client.call) return;
  const info = String(await client.call("INFO", "replication"));
  const replicas = Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? 0);
  if (replicas === 0) return;
  const acknowledged = Number(await client.call("WAIT", "1", String(REPLICA_WAIT_MS)));
  if (acknowledged < 1)
    throw new Error(
      `the change is on the Redis primary, but its replica did not confirm it within ${REPLICA_WAIT_MS / 1000} s, so a failover now could lose it — see the Redis hosts in bun run status, then make the change again`,
    );
}

export const parseEvent = (message: string) => event.read(message);
