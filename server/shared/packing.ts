import {
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
} from "node:fs";
import { join } from "node:path";
import { runAsync } from "./proc.ts";

/** A file both sides hold, which a delta is made against. */
export interface PackBase {
  /** on this machine */
  path: string;
  sha: string;
}

/** Packed files not used for this long are removed the next time one is made. */
const KEEP_MS = 7 * 24 * 60 * 60 * 1000;

/** zstd's options for both ends: a window that spans a whole binary, so a delta finds every match. */
export const ZSTD_WINDOW = "--long=27";

const making = new Map<string, Promise<string>>();

/**
 * A file packed with zstd for the wire, whole or as a delta against `base`: made once per
 * (base, file) and kept in `cacheDir/packed`, so a release sent to ten hosts is packed once.
 * Our binaries are mostly the Bun runtime they share: whole, one packs to about half; against
 * another binary of the same build, to about 0.2%.
 */
export function packed(
  cacheDir: string,
  local: string,
  sha: string,
  base: PackBase | undefined,
): Promise<string> {
  const dir = join(cacheDir, "packed");
  const file = join(dir, base ? `${base.sha}-${sha}.zst` : `${sha}.zst`);
  const pending = making.get(file);
  if (pending) return pending;
  if (existsSync(file)) {
    // in use again: the pruning below leaves it alone for another KEEP_MS
    const now = new Date();
    utimesSync(file, now, now);
    return Promise.resolve(file);
  }
  const made = (async () => {
    mkdirSync(dir, { recursive: true });
    prune(dir);
    const temp = `${file}.${process.pid}.part`;
    // level 1: a whole binary in 0.9 s to 53 MB, where the default level takes 1.6 s for 48
    const argv = ["zstd", "-q", "-f", "-1", ZSTD_WINDOW];
    if (base) argv.push(`--patch-from=${base.path}`);
    const { code, stderr } = await runAsync([...argv, local, "-o", temp]);
    if (code !== 0) {
      rmSync(temp, { force: true });
      throw new Error(`zstd could not pack ${local}: ${stderr.trim()}`);
    }
    // whole or not at all, for a delivery beside this one that finds it
    renameSync(temp, file);
    return file;
  })().finally(() => making.delete(file));
  making.set(file, made);
  return made;
}

/** The host's command that unpacks what `packed` made, to `target`, and removes the pack. */
export function unpackCommand(pack: string, target: string, base: string | undefined): string {
  const from = base ? ` --patch-from=${base}` : "";
  return `zstd -q -f -d ${ZSTD_WINDOW}${from} ${pack} -o ${target} && rm ${pack}`;
}

function prune(dir: string): void {
  const cutoff = Date.now() - KEEP_MS;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    try {
      if (statSync(path).mtimeMs < cutoff) rmSync(path, { force: true });
    } catch {
      // gone already: another delivery pruned it
    }
  }
}
