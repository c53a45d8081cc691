import { type Flag, type FlagChange, parseFlag } from "../flags/model.ts";
import { applyChange, MissingError } from "./change.ts";
import { KEYS } from "./keys.ts";
import type { StateCommands } from "./redis.ts";

export interface ChangeResult {
  /** undefined: the flag did not exist */
  old?: Flag;
  now: Flag;
}

export class UnknownFlagError extends Error {
  constructor(readonly flag: string) {
    super(`unknown flag ${flag}`);
    this.name = "UnknownFlagError";
  }
}

/** Changes one flag, audited and pushed to every server; `update` refuses a new flag. */
export async function changeFlag(
  redis: StateCommands,
  name: string,
  change: FlagChange,
  actor: string,
  mode: "update" | "create",
): Promise<ChangeResult> {
  try {
    const { old, now } = await applyChange(redis, {
      hash: KEYS.flags,
      field: name,
      value: { name, enabled: change.enabled, rollout: change.rollout },
      mode: mode === "create" ? "upsert" : "update",
      kind: "flag",
      actor,
    });
    const stored = parseFlag(now);
    if (!stored) throw new Error(`flag ${name} holds a value that is not a flag: ${now}`);
    return { old: old ? parseFlag(old) : undefined, now: stored };
  } catch (error) {
    if (error instanceof MissingError) throw new UnknownFlagError(name);
    throw error;
  }
}

export async function listFlags(redis: StateCommands): Promise<Flag[]> {
  const raw = await redis.hgetall(KEYS.flags);
  return Object.values(raw)
    .map(parseFlag)
    .filter((flag): flag is Flag => flag !== undefined)
    .sort((a, b) => a.name.localeCompare(b.name));
}
