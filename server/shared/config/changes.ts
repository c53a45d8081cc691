import { type Config, ConfigSchema } from "./schema.ts";

/** The config's top-level sections that differ between two validated configs, in the reference's order. */
export function changedSections(before: Config, after: Config): string[] {
  return Object.keys(ConfigSchema.properties).filter(
    (name) => !sameValue(before[name as keyof Config], after[name as keyof Config]),
  );
}

/**
 * The settings the receiver's listener and its pushes' hooks are given when it starts: what of a
 * change waits for its restart.
 */
const READ_AT_START = [
  ["digitalocean", "ssh_key"],
  ["pipeline", "repos"],
  ["pipeline", "push_limit"],
  ["pipeline", "tls"],
  ["gitops", "repo"],
] as const;

/** What of a change a running receiver cannot take up, as `section/key`. */
export function changedAtStartOnly(before: Config, after: Config): string[] {
  return READ_AT_START.filter(
    ([section, key]) =>
      !sameValue(
        (before[section] as Record<string, unknown>)[key],
        (after[section] as Record<string, unknown>)[key],
      ),
  ).map(([section, key]) => `${section}/${key}`);
}

/**
 * `next` with the settings read at the start as they were then, so every part of a running
 * receiver works from the same ones until it restarts (its hooks are given them in their
 * environment).
 */
export function withStartSettings(atStart: Config, next: Config): Config {
  const merged = structuredClone(next);
  for (const [section, key] of READ_AT_START)
    (merged[section] as Record<string, unknown>)[key] = structuredClone(
      (atStart[section] as Record<string, unknown>)[key],
    );
  return merged;
}

/** Equal as data: the order a file wrote a section's keys in is no change. */
function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
  );
}
