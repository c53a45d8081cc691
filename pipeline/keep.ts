/**
 * What the control host keeps between pushes, and what it lets go. Every push to master or
 * staging keeps its release's binaries (~330 MB) so a new or replacing host can be given what
 * its role runs, and each delivery keeps a copy of what it sent as the next delta's base: kept
 * for good, they filled a 25 GB disk in a few dozen pushes.
 */

/** A release directory or a cached file, and when it was last made or used. */
export interface Kept {
  name: string;
  /** milliseconds since the epoch */
  at: number;
}

/** Nothing made or used this recently is let go: a push beside this one may be using it. */
export const RECENT_MS = 60 * 60 * 1000;

/**
 * The releases to let go: all but the `keep` newest, those a host or a role runs (`inUse`),
 * and any made within the last hour. Oldest first.
 */
export function releasesToDrop(
  releases: Kept[],
  keep: number,
  inUse: ReadonlySet<string>,
  now: number,
): string[] {
  const newest = new Set(
    [...releases]
      .sort((a, b) => b.at - a.at)
      .slice(0, keep)
      .map((r) => r.name),
  );
  return releases
    .filter((r) => !newest.has(r.name) && !inUse.has(r.name) && now - r.at >= RECENT_MS)
    .sort((a, b) => a.at - b.at)
    .map((r) => r.name);
}

/**
 * The delivered copies to let go (`<sha256>.bin`, a delta's base): those that are no kept
 * release's file, unless used within the last hour.
 */
export function copiesToDrop(
  copies: Kept[],
  keptDigests: ReadonlySet<string>,
  now: number,
): string[] {
  return copies
    .filter((c) => !keptDigests.has(c.name.replace(/\.bin$/, "")) && now - c.at >= RECENT_MS)
    .map((c) => c.name);
}

/** The dependency installs to let go: all but the `keep` last used, unless used within the hour. */
export function installsToDrop(installs: Kept[], keep: number, now: number): string[] {
  return releasesToDrop(installs, keep, new Set(), now);
}

/** The digests a release's SHA256SUMS lists (`<sha256>  <file>` a line). */
export function digestsOf(sums: string): string[] {
  return sums
    .split("\n")
    .map((line) => /^([0-9a-f]{64}) /.exec(line)?.[1])
    .filter((sha): sha is string => sha !== undefined);
}
