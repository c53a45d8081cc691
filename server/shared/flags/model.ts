import { suggest } from "../config/suggest.ts";
import { murmur3 } from "./murmur3.ts";

export interface Flag {
  name: string;
  enabled: boolean;
  /** percent of clients that see the flag on while enabled; 100 means everyone */
  rollout: number;
  /** increases with every change of any flag; a newer value always wins */
  version: number;
  updatedAt: string;
  updatedBy: string;
}

export interface FlagChange {
  enabled: boolean;
  rollout: number;
}

/** The flags the sample app itself reads; created (off) when missing. */
export const BUILT_IN_FLAGS: Record<string, FlagChange> = {
  disableSET: { enabled: false, rollout: 100 },
};

const NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

export function flagNameError(name: string): string | undefined {
  if (NAME.test(name)) return undefined;
  return `flag name ${JSON.stringify(name)} is not valid — use a letter, then up to 63 letters, digits, dots, dashes or underscores`;
}

export function rolloutError(rollout: unknown): string | undefined {
  if (typeof rollout === "number" && Number.isInteger(rollout) && rollout >= 0 && rollout <= 100) {
    return undefined;
  }
  return `rollout ${JSON.stringify(rollout)} is not valid — give a whole percentage from 0 to 100`;
}

export function unknownFlagError(name: string, known: readonly string[]): string {
  const hint = suggest(name, known);
  return hint
    ? `unknown flag ${name} — did you mean ${hint}? (--create makes a new one)`
    : `unknown flag ${name} — known flags: ${known.join(", ") || "none"}; --create makes a new one`;
}

/** Which of 100 buckets a client falls in for a flag; stable for the pair forever. */
export function bucketOf(flagName: string, clientId: string): number {
  return murmur3(`${flagName}:${clientId}`) % 100;
}

/**
 * Whether the flag is on for this client. A partial rollout is sticky per client and
 * monotonic: raising the percentage only adds clients. Without a client id a partial
 * rollout answers off — no client is put in the rollout by chance.
 */
export function isEnabled(flag: Flag | undefined, clientId?: string): boolean {
  if (!flag?.enabled) return false;
  if (flag.rollout >= 100) return true;
  if (flag.rollout <= 0 || !clientId) return false;
  return bucketOf(flag.name, clientId) < flag.rollout;
}

/** Parses a flag as stored; undefined for anything that is not one (it is then ignored). */
export function parseFlag(json: string): Flag | undefined {
  try {
    const value = JSON.parse(json) as Partial<Flag>;
    if (
      typeof value.name === "string" &&
      typeof value.enabled === "boolean" &&
      typeof value.rollout === "number" &&
      typeof value.version === "number"
    ) {
      return {
        name: value.name,
        enabled: value.enabled,
        rollout: value.rollout,
        version: value.version,
        updatedAt: String(value.updatedAt ?? ""),
        updatedBy: String(value.updatedBy ?? ""),
      };
    }
  } catch {
    // fall through: not a flag
  }
  return undefined;
}

export function describeFlag(flag: Pick<Flag, "enabled" | "rollout">): string {
  if (!flag.enabled) return "off";
  return flag.rollout >= 100 ? "on" : `on for ${flag.rollout}%`;
}
