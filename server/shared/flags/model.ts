import type { Static } from "@sinclair/typebox";
import { suggest } from "../config/suggest.ts";
import { flag } from "../records/checks.ts";
import { murmur3 } from "./murmur3.ts";
import type { FlagChangeBody, FlagRecord } from "./schema.ts";

export type Flag = Static<typeof FlagRecord>;
export type FlagChange = Required<Static<typeof FlagChangeBody>>;

/** The flags the sample app itself reads; created (off) when missing. */
export const BUILT_IN_FLAGS: Record<string, FlagChange> = {
  disableSET: { enabled: false, rollout: 100 },
};

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

/** A flag as stored; undefined for anything that is not one (it is then ignored). */
export const parseFlag = (json: string) => flag.read(json);

export function describeFlag(flag: Pick<Flag, "enabled" | "rollout">): string {
  if (!flag.enabled) return "off";
  return flag.rollout >= 100 ? "on" : `on for ${flag.rollout}%`;
}
