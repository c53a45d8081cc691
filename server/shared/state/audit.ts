import { AUDIT_LENGTH, KEYS } from "./keys.ts";
import type { RedisClient } from "./redis.ts";

export interface AuditEntry {
  id: string;
  kind: string;
  target: string;
  actor: string;
  at: string;
  old: string;
  new: string;
}

/** Newest first; with `kind` or `target`, only those entries; with `actor`, those whose actor contains it. */
export async function readAudit(
  redis: RedisClient,
  options: { kind?: string; target?: string; actor?: string; limit: number },
): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = [];
  let end = "+";
  while (entries.length < options.limit) {
    const batch = await redis.xrevrange(KEYS.audit, end, "-", "COUNT", 500);
    for (const [id, fields] of batch) {
      const entry = toEntry(id, fields);
      if (options.kind && entry.kind !== options.kind) continue;
      if (options.target && entry.target !== options.target) continue;
      if (options.actor && !entry.actor.includes(options.actor)) continue;
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

/**
 * Records an action that changes no shared state but must be traceable — a command run on a
 * host, logs read, an upgrade — in the same stream as every flag and routing change.
 */
export async function recordAction(
  redis: RedisClient,
  action: { kind: string; target: string; actor: string; what: string },
): Promise<void> {
  await redis.xadd(
    KEYS.audit,
    "MAXLEN",
    "~",
    String(AUDIT_LENGTH),
    "*",
    "kind",
    action.kind,
    "target",
    action.target,
    "actor",
    action.actor,
    "at",
    new Date().toISOString(),
    "old",
    "",
    "new",
    action.what,
  );
}
