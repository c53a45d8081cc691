import { existsSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileSha256 } from "../server/shared/file-digest.ts";
import { passedBefore, passedFiles, withPass } from "./keep.ts";

/** Beside a kept release's binaries: the gates its commit passed (pipeline/keep.ts). */
const PASSED = "PASSED";

/**
 * When the kept release in `dir` is `commit`'s, passed the gate with `test` before, and is
 * whole (each file as the record says): then a push of that commit again (to staging
 * after master, to main after master) deploys it as it is, as a pipeline promotes a build,
 * and need not install, check, test and build it again. Undefined otherwise.
 */
export async function reusableRelease(
  dir: string,
  commit: string,
  test: string,
): Promise<string | undefined> {
  const record = readIfThere(join(dir, PASSED));
  const at = passedBefore(record, commit, test);
  if (!at) return undefined;
  for (const [name, sha] of passedFiles(record)) {
    const file = join(dir, name);
    if (!existsSync(file) || (await fileSha256(file)) !== sha) return undefined;
  }
  // used again: the newest kept, as the prune sees it
  const now = new Date();
  utimesSync(dir, now, now);
  return at;
}

/** Records that `commit`'s release in `dir`, these `files` of it, passed the gate with `test`. */
export async function recordPass(
  dir: string,
  commit: string,
  test: string,
  files: string[],
): Promise<void> {
  const digests: Record<string, string> = {};
  for (const file of files) digests[basename(file)] = await fileSha256(join(dir, basename(file)));
  const at = new Date().toISOString();
  const record = withPass(readIfThere(join(dir, PASSED)), commit, test, at, digests);
  writeFileSync(join(dir, PASSED), `${JSON.stringify(record)}\n`);
}

function readIfThere(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}
