import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
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

/** What a block delta compares and copies at a time. */
export const BLOCK = 1024 * 1024;

/**
 * How much of a file must match its base, block for block at the same offsets, for the delta
 * to be those blocks copied on the host and the others sent. Two builds on one Bun share the
 * runtime, ~105 of their ~110 MB, and differ in the ELF header (its first block), the bundle
 * Bun appends and the section table after it: copying costs the host ~0.1 s, where unpacking
 * a zstd patch against the whole base took 1.6 CPU s (a 128 MB window and the base in memory).
 * A file that matches less (another Bun) is a zstd patch.
 */
const COPIED_AT_LEAST = 0.5;

/** A stretch of a file, in blocks: copied from the base at the same offset, or sent in the pack. */
export interface Run {
  from: "base" | "pack";
  start: number;
  count: number;
}

/** What `packed` made: the file to send and, for a block delta, the file's runs. */
export interface Pack {
  file: string;
  runs?: Run[];
}

const making = new Map<string, Promise<Pack>>();

/**
 * A file packed with zstd for the wire, whole or as a delta against `base`: made once per
 * (base, file) and kept in `cacheDir/packed`, so a release sent to ten hosts is packed once.
 * Our binaries are mostly the Bun runtime they share: whole, one packs to about half; against
 * another build on the same Bun, to the blocks that differ (a few hundred KB), or a zstd
 * patch (about 0.2%) when less than half of it matches.
 */
export function packed(
  cacheDir: string,
  local: string,
  sha: string,
  base: PackBase | undefined,
): Promise<Pack> {
  const key = `${cacheDir}\0${base?.sha ?? ""}\0${sha}`;
  const pending = making.get(key);
  if (pending) return pending;
  const made = (async (): Promise<Pack> => {
    const dir = join(cacheDir, "packed");
    const kept = base ? keptDelta(dir, base.sha, sha) : keptWhole(dir, sha);
    if (kept) {
      // in use again: the pruning below leaves it alone for another KEEP_MS
      const now = new Date();
      for (const path of [kept.file, ...(kept.runs ? [runsFile(kept.file)] : [])])
        utimesSync(path, now, now);
      return kept;
    }
    const runs = base ? blockDelta(await sameBlocks(base.path, local)) : undefined;
    const name = base ? `${base.sha}-${sha}${runs ? ".blocks" : ""}.zst` : `${sha}.zst`;
    const file = join(dir, name);
    mkdirSync(dir, { recursive: true });
    prune(dir);
    const temp = `${file}.${process.pid}.part`;
    try {
      // level 1: a whole binary in 0.9 s to 53 MB, where the default level takes 1.6 s for 48
      const argv = ["zstd", "-q", "-f", "-1", ZSTD_WINDOW];
      const { code, stderr } = runs
        ? await packBlocks([...argv, "-o", temp], local, runs)
        : await runAsync([
            ...argv,
            ...(base ? [`--patch-from=${base.path}`] : []),
            local,
            "-o",
            temp,
          ]);
      if (code !== 0) throw new Error(`zstd could not pack ${local}: ${stderr.trim()}`);
      // the runs first: a pack is only found with them (keptDelta)
      if (runs) writeWhole(runsFile(file), JSON.stringify(runs));
      // whole or not at all, for a delivery beside this one that finds it
      renameSync(temp, file);
    } finally {
      rmSync(temp, { force: true });
    }
    return runs ? { file, runs } : { file };
  })().finally(() => making.delete(key));
  making.set(key, made);
  return made;
}

/** A whole pack of `sha` made before. */
function keptWhole(dir: string, sha: string): Pack | undefined {
  const file = join(dir, `${sha}.zst`);
  return existsSync(file) ? { file } : undefined;
}

/**
 * A delta of `sha` against `baseSha` made before, a block delta with its runs: found by name,
 * its two files are not read and compared again for every host a release goes to.
 */
function keptDelta(dir: string, baseSha: string, sha: string): Pack | undefined {
  const blocks = join(dir, `${baseSha}-${sha}.blocks.zst`);
  if (existsSync(blocks)) {
    try {
      return { file: blocks, runs: JSON.parse(readFileSync(runsFile(blocks), "utf8")) as Run[] };
    } catch {
      // its runs are gone (pruned apart from it): made again
      return undefined;
    }
  }
  const patch = join(dir, `${baseSha}-${sha}.zst`);
  return existsSync(patch) ? { file: patch } : undefined;
}

/** Where a block delta's runs are kept beside it. */
const runsFile = (pack: string) => `${pack}.runs`;

function writeWhole(path: string, text: string): void {
  const temp = `${path}.${process.pid}.part`;
  writeFileSync(temp, text);
  renameSync(temp, path);
}

/**
 * The runs of a block delta from which of a file's blocks match its base's (the last, partial
 * block never does: a copy is of whole blocks); undefined when less than COPIED_AT_LEAST match.
 */
export function blockDelta(same: boolean[]): Run[] | undefined {
  const runs: Run[] = [];
  for (const [i, matches] of same.entries()) {
    const from = matches ? "base" : "pack";
    const last = runs.at(-1);
    if (last?.from === from) last.count++;
    else runs.push({ from, start: i, count: 1 });
  }
  const copied = same.filter(Boolean).length;
  return same.length > 0 && copied >= same.length * COPIED_AT_LEAST ? runs : undefined;
}

/** For each BLOCK of `file`, whether `base` holds the very same bytes at the same offset. */
export async function sameBlocks(base: string, file: string): Promise<boolean[]> {
  const size = Bun.file(file).size;
  const baseSize = Bun.file(base).size;
  const same: boolean[] = [];
  for (let at = 0; at < size; at += BLOCK) {
    const end = at + BLOCK;
    if (end > size || end > baseSize) {
      same.push(false);
      continue;
    }
    const [a, b] = await Promise.all([
      Bun.file(base).slice(at, end).bytes(),
      Bun.file(file).slice(at, end).bytes(),
    ]);
    same.push(Buffer.compare(a, b) === 0);
  }
  return same;
}

/** zstd (`argv`, writing its output) fed the blocks of `file` the runs send, in order. */
async function packBlocks(
  argv: string[],
  file: string,
  runs: Run[],
): Promise<{ code: number; stderr: string }> {
  const size = Bun.file(file).size;
  const sent = runs
    .filter((run) => run.from === "pack")
    .map((run) => [run.start * BLOCK, Math.min(size, (run.start + run.count) * BLOCK)] as const);
  const total = sent.reduce((sum, [start, end]) => sum + end - start, 0);
  // its size given, the frame's window is no larger than what it holds: the host then needs
  // no 128 MB window to unpack it
  const zstd = Bun.spawn([...argv, `--stream-size=${total}`], {
    stdin: "pipe",
    stdout: "ignore",
    stderr: "pipe",
  });
  const stderr = new Response(zstd.stderr).text();
  try {
    for (const [start, end] of sent) {
      zstd.stdin.write(await Bun.file(file).slice(start, end).bytes());
      await zstd.stdin.flush();
    }
    await zstd.stdin.end();
  } catch (error) {
    // zstd stopped reading because it failed (what it said is the error), or a read failed:
    // either way it stops before the caller removes its output
    zstd.kill();
    const code = await zstd.exited;
    const said = (await stderr).trim();
    if (said) return { code: code || 1, stderr: said };
    throw error;
  }
  return { code: await zstd.exited, stderr: await stderr };
}

/** The host's command that unpacks what `packed` made, to `target`, and removes the pack. */
export function unpackCommand(
  pack: string,
  target: string,
  base: string | undefined,
  runs?: Run[],
): string {
  if (base !== undefined && runs !== undefined) {
    const sent = `${pack}.blocks`;
    let taken = 0;
    const copies = runs.map((run) => {
      const skip = run.from === "base" ? run.start : taken;
      if (run.from === "pack") taken += run.count;
      return `dd if=${run.from === "base" ? base : sent} bs=${BLOCK} skip=${skip} count=${run.count} status=none`;
    });
    return `zstd -q -f -d ${ZSTD_WINDOW} ${pack} -o ${sent} && { ${copies.join(" && ")}; } > ${target} && rm ${pack} ${sent}`;
  }
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
