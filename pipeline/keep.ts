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

/** A kept release's record of the gates its commit passed (`PASSED` in its directory). */
export interface PassedGates {
  commit: string;
  /** each test command it passed with, with when */
  tests: { command: string; at: string }[];
  /** the SHA-256 of each file of the release as it was kept, by name */
  files: Record<string, string>;
}

/**
 * When `commit` passed the gate with `test` before, as `PASSED` records it; undefined when it
 * did not (another test command, another commit, or no record a dropship of now wrote).
 */
export function passedBefore(
  record: string | undefined,
  commit: string,
  test: string,
): string | undefined {
  const passed = parsePassed(record);
  if (passed?.commit !== commit) return undefined;
  return passed.tests.find((t) => t.command === test)?.at;
}

/** The record once `commit` has passed with `test` (again) at `at`. */
export function withPass(
  record: string | undefined,
  commit: string,
  test: string,
  at: string,
  files: Record<string, string>,
): PassedGates {
  const passed = parsePassed(record);
  // the same files as the passes before (a gate of the same tree builds the same), else anew
  const same = passed?.commit === commit && sameFiles(passed.files, files);
  const tests = same ? passed.tests.filter((t) => t.command !== test) : [];
  return { commit, tests: [...tests, { command: test, at }], files };
}

/** The files a record says its release had, as `[name, sha256]`; none: a record not to trust. */
export function passedFiles(record: string | undefined): [string, string][] {
  return Object.entries(parsePassed(record)?.files ?? {});
}

const sameFiles = (a: Record<string, string>, b: Record<string, string>) =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

function parsePassed(record: string | undefined): PassedGates | undefined {
  if (record === undefined) return undefined;
  try {
    const value = JSON.parse(record) as Partial<PassedGates>;
    if (typeof value.commit !== "string" || !Array.isArray(value.tests)) return undefined;
    if (typeof value.files !== "object" || value.files === null) return undefined;
    const files = Object.entries(value.files);
    if (files.length === 0 || files.some(([, sha]) => !/^[0-9a-f]{64}$/.test(String(sha))))
      return undefined;
    const tests = value.tests.filter(
      (t): t is { command: string; at: string } =>
        typeof t?.command === "string" && typeof t?.at === "string",
    );
    return {
      commit: value.commit,
      tests,
      files: Object.fromEntries(files) as Record<string, string>,
    };
  } catch {
    return undefined;
  }
}
