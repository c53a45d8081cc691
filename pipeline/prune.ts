import {
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { binaryOf, ROLES } from "../server/shared/roles.ts";
import { copiesToDrop, digestsOf, installsToDrop, type Kept, releasesToDrop } from "./keep.ts";

/** The dependency installs kept by lock file, however many lock files have come and gone. */
export const INSTALLS_KEPT = 3;

export interface PruneOptions {
  /** the newest releases kept (pipeline.keep_releases) */
  keepReleases: number;
  /** releases a host or a role runs: never let go */
  inUse: Iterable<string>;
  now?: number;
}

export interface PruneReport {
  releases: string[];
  copies: number;
  installs: number;
  /** what the disk holding the work directory gained */
  freedBytes: number;
}

/**
 * Lets go of what the work directory no longer needs: releases past `keepReleases` that
 * nothing runs, delivered copies that are no kept release's, dependency installs past the
 * last few. Everything made or used within the hour stays.
 */
export function pruneWorkDir(workDir: string, options: PruneOptions): PruneReport {
  const now = options.now ?? Date.now();
  const before = freeBytes(workDir);
  const releasesDir = join(workDir, "releases");
  const releases = entries(releasesDir);
  const dropped = releasesToDrop(releases, options.keepReleases, new Set(options.inUse), now);
  for (const name of dropped) rmSync(join(releasesDir, name), { recursive: true, force: true });

  const keptDigests = new Set(
    releases
      .filter((r) => !dropped.includes(r.name))
      .flatMap((r) => releaseDigests(join(releasesDir, r.name))),
  );
  const copiesDir = join(workDir, "cache", "releases");
  const copies = copiesToDrop(
    entries(copiesDir).filter((c) => c.name.endsWith(".bin")),
    keptDigests,
    now,
  );
  for (const name of copies) rmSync(join(copiesDir, name), { force: true });

  const installsDir = join(workDir, "cache", "node_modules");
  const installs = installsToDrop(entries(installsDir), INSTALLS_KEPT, now);
  for (const name of installs) rmSync(join(installsDir, name), { recursive: true, force: true });

  return {
    releases: dropped,
    copies: copies.length,
    installs: installs.length,
    freedBytes: Math.max(0, freeBytes(workDir) - before),
  };
}

/** The report in a person's words, or nothing when nothing was let go. */
export function describePrune(report: PruneReport): string | undefined {
  const parts = [
    report.releases.length > 0 &&
      `${report.releases.length} older release${report.releases.length === 1 ? "" : "s"} (${report.releases.join(", ")})`,
    report.copies > 0 && `${report.copies} delivered cop${report.copies === 1 ? "y" : "ies"}`,
    report.installs > 0 &&
      `${report.installs} dependency install${report.installs === 1 ? "" : "s"}`,
  ].filter(Boolean);
  if (parts.length === 0) return undefined;
  return `let go of ${parts.join(", ")}: ${(report.freedBytes / 1024 / 1024).toFixed(0)} MiB freed (pipeline/keep_releases)`;
}

/** A directory's entries and when each was last changed; none when it does not exist. */
function entries(dir: string): Kept[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    try {
      return [{ name, at: statSync(join(dir, name)).mtimeMs }];
    } catch {
      return []; // let go of by a prune beside this one
    }
  });
}

/**
 * The digests of a release's files, from its SHA256SUMS; a release kept before there was one
 * is read once and given one.
 */
function releaseDigests(dir: string): string[] {
  const sums = join(dir, "SHA256SUMS");
  if (existsSync(sums)) return digestsOf(readFileSync(sums, "utf8"));
  const names = [...new Set(Object.values(ROLES).flatMap((r) => r.services))].map(binaryOf);
  const lines = names
    .filter((name) => existsSync(join(dir, name)))
    .map((name) => {
      const hasher = new Bun.CryptoHasher("sha256");
      hasher.update(readFileSync(join(dir, name)));
      return `${hasher.digest("hex")}  ${name}`;
    });
  try {
    const { atime, mtime } = statSync(dir);
    writeFileSync(sums, `${lines.join("\n")}\n`);
    // a release's age is its directory's: the new file must not make it the newest
    utimesSync(dir, atime, mtime);
  } catch {
    // read-only or gone: read again next time
  }
  return digestsOf(lines.join("\n"));
}

function freeBytes(dir: string): number {
  const fs = statfsSync(dir);
  return fs.bavail * fs.bsize;
}
