import { type Maintenance, parseMaintenance } from "../routing/maintenance.ts";
import { applyChange } from "./change.ts";
import { KEYS, MAINTENANCE_FIELD } from "./keys.ts";
import type { StateCommands } from "./redis.ts";

/** Maintenance as stored; undefined when it was never turned on (it is off). */
export async function readMaintenance(redis: StateCommands): Promise<Maintenance | undefined> {
  return parseMaintenance((await redis.hget(KEYS.maintenance, MAINTENANCE_FIELD)) ?? undefined);
}

/** Turns maintenance on (with the page's message) or off; audited, and every proxy hears it. */
export async function changeMaintenance(
  redis: StateCommands,
  change: { on: boolean; message: string },
  actor: string,
): Promise<{ old: Maintenance | undefined; now: Maintenance }> {
  const now: Maintenance = { ...change, since: new Date().toISOString(), by: actor };
  const { old } = await applyChange(redis, {
    hash: KEYS.maintenance,
    field: MAINTENANCE_FIELD,
    value: now,
    mode: "upsert",
    kind: "maintenance",
    actor,
  });
  return { old: parseMaintenance(old || undefined), now };
}
