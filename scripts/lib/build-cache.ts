import {
  copyFileSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
} from "node:fs";
import { join } from "node:path";

/** How many binaries a build cache keeps (~105 MB each): the most recently used. */
export const BUILD_CACHE_KEEP = 24;

/**
 * Where a build cache keeps the binary `name` compiled with `flags` from `bundle` by this
 * Bun: named by a digest of all four, so a change to any is a new entry.
 */
export async function cachedBuild(
  cacheDir: string,
  name: string,
  flags: string[],
  bundle: ArrayBuffer[],
): Promise<string> {
  const hash = new Bun.CryptoHasher("sha256")
    .update(`${Bun.version} ${Bun.revision}\n`)
    .update(`${JSON.stringify(flags)}\n`);
  for (const output of bundle) hash.update(output);
  const path = join(cacheDir, `${name}-${hash.digest("hex").slice(0, 32)}`);
  try {
    // in use again: the last to be let go
    const now = new Date();
    utimesSync(path, now, now);
  } catch {
    // not there yet
  }
  return path;
}

/**
 * Keeps a binary just compiled in the cache, whole or not at all (a build beside this one may
 * be reading the cache), then lets go of the least recently used past BUILD_CACHE_KEEP.
 */
export function keepBuild(binary: string, path: string): void {
  const dir = join(path, "..");
  mkdirSync(dir, { recursive: true });
  const part = `${path}.${process.pid}.part`;
  copyFileSync(binary, part);
  renameSync(part, path);
  const kept = readdirSync(dir)
    .filter((name) => !name.endsWith(".part"))
    .flatMap((name) => {
      try {
        return [{ name, used: statSync(join(dir, name)).mtimeMs }];
      } catch {
        return []; // let go by another build meanwhile
      }
    });
  for (const { name } of leastRecentlyUsed(kept, BUILD_CACHE_KEEP))
    rmSync(join(dir, name), { force: true });
}

/** The entries past the `keep` most recently used. */
export function leastRecentlyUsed<T extends { used: number }>(entries: T[], keep: number): T[] {
  return [...entries].sort((a, b) => b.used - a.used).slice(keep);
}
