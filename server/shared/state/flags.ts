import { describeFlag, type Flag, type FlagChange, parseFlag } from "../flags/model.ts";
import { applyChange, ConflictError, MissingError } from "./change.ts";
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

/** A flag that may not be deleted, or that changed while it was being. */
export class FlagRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FlagRefusedError";
  }
}

/** Why a flag may not be deleted; undefined when it may. */
export function undeletable(flag: Flag, builtIn: boolean): string | undefined {
  if (builtIn)
    return `${flag.name} is the app's own flag (it reads it on every request) — set it off instead`;
  if (flag.enabled)
    return `${flag.name} is ${describeFlag(flag)}: deleting it would turn it off for them — set it off first (bun run flags set ${flag.name} off), then delete it`;
  return undefined;
}

/**
 * Deletes a flag that is off, audited and pushed to every server, as a feature's flag goes once
 * its code no longer reads it. Only an off flag goes, so no visitor sees a change (a missing
 * flag reads as off); and only the flag as read, so one turned on meanwhile stays.
 */
export async function deleteFlag(
  redis: StateCommands,
  name: string,
  actor: string,
  builtIn: boolean,
): Promise<Flag> {
  const stored = await redis.hget(KEYS.flags, name);
  const flag = stored ? parseFlag(stored) : undefined;
  if (!flag) throw new UnknownFlagError(name);
  const refusal = undeletable(flag, builtIn);
  if (refusal) throw new FlagRefusedError(refusal);
  try {
    await applyChange(redis, {
      hash: KEYS.flags,
      field: name,
      value: undefined,
      mode: "update",
      kind: "flag",
      actor,
      ifVersion: flag.version,
    });
  } catch (error) {
    if (error instanceof MissingError) throw new UnknownFlagError(name);
    if (error instanceof ConflictError)
      throw new FlagRefusedError(
        `${name} was changed while it was being deleted — look at it, then try again`,
      );
    throw error;
  }
  return flag;
}
