import { type Flag, type FlagChange, parseFlag } from "../flags/model.ts";
import { AUDIT_LENGTH, KEYS } from "./keys.ts";
import type { RedisClient } from "./redis.ts";

/** How a change treats a flag that does not exist yet: refuse it, or create it. */
export type Mode = "update" | "create";

export interface ChangeResult {
  /** undefined: the flag did not exist */
  old?: Flag;
  /** the value now stored */
  now: Flag;
}

export class UnknownFlagError extends Error {
  constructor(readonly flag: string) {
    super(`unknown flag ${flag}`);
    this.name = "UnknownFlagError";
  }
}

// One atomic step: read the old value, write the new one with the next version, append the
// audit entry and publish the change, so no subscriber ever sees a change the audit lacks.
const CHANGE = `
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old and ARGV[6] == 'update' then return {'missing'} end
local version = redis.call('INCR', KEYS[2])
local now = cjson.encode({name = ARGV[1], enabled = ARGV[2] == '1', rollout = tonumber(ARGV[3]),
  version = version, updatedAt = ARGV[5], updatedBy = ARGV[4]})
redis.call('HSET', KEYS[1], ARGV[1], now)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[8], '*', 'kind', 'flag', 'target', ARGV[1],
  'actor', ARGV[4], 'at', ARGV[5], 'old', old or '', 'new', now)
redis.call('PUBLISH', ARGV[7], cjson.encode({type = 'flag', flag = cjson.decode(now)}))
return {'changed', now, old or ''}
`;

export async function changeFlag(
  redis: RedisClient,
  name: string,
  change: FlagChange,
  actor: string,
  mode: Mode,
): Promise<ChangeResult> {
  const reply = (await redis.eval(
    CHANGE,
    3,
    KEYS.flags,
    KEYS.flagVersion,
    KEYS.audit,
    name,
    change.enabled ? "1" : "0",
    String(change.rollout),
    actor,
    new Date().toISOString(),
    mode,
    KEYS.events,
    String(AUDIT_LENGTH),
  )) as string[];
  const [outcome, now, old] = reply;
  if (outcome === "missing") throw new UnknownFlagError(name);
  const stored = parseFlag(now ?? "");
  if (!stored) throw new Error(`flag ${name} holds a value that is not a flag: ${now}`);
  return { old: old ? parseFlag(old) : undefined, now: stored };
}

export async function listFlags(redis: RedisClient): Promise<Flag[]> {
  const raw = await redis.hgetall(KEYS.flags);
  return Object.values(raw)
    .map(parseFlag)
    .filter((flag): flag is Flag => flag !== undefined)
    .sort((a, b) => a.name.localeCompare(b.name));
}

export interface AuditEntry {
  id: string;
  kind: string;
  target: string;
  actor: string;
  at: string;
  old: string;
  new: string;
}

/** Newest first; with `target`, only that target's entries. */
export async function readAudit(
  redis: RedisClient,
  options: { kind?: string; target?: string; limit: number },
): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = [];
  let end = "+";
  while (entries.length < options.limit) {
    const batch = await redis.xrevrange(KEYS.audit, end, "-", "COUNT", 500);
    for (const [id, fields] of batch) {
      const entry = toEntry(id, fields);
      if (options.kind && entry.kind !== options.kind) continue;
      if (options.target && entry.target !== options.target) continue;
      entries.push(entry);
      if (entries.length === options.limit) break;
    }
    if (batch.length < 500) break;
    end = `(${batch[batch.length - 1]?.[0]}`;
  }
  return entries;
}

function toEntry(id: string, fields: string[]): AuditEntry {
  const map: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) map[fields[i] as string] = fields[i + 1] as string;
  return {
    id,
    kind: map.kind ?? "",
    target: map.target ?? "",
    actor: map.actor ?? "",
    at: map.at ?? "",
    old: map.old ?? "",
    new: map.new ?? "",
  };
}
