import { afterAll, onTestFinished } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A fresh directory for one test, removed after it whether it passed or not; made outside a
 * test, after the file's tests. (An `afterEach` at this module's top level ran only for the
 * first test file of a `bun test` process to import it: every later file's directories stayed,
 * 1.5 GB a setup test, until a CI run met a full disk.)
 */
export function tempDir(prefix = "dropship-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    onTestFinished(remove);
  } catch {
    afterAll(remove);
  }
  return dir;
}

/** A directory for a whole test file (made at its top level), removed after its tests. */
export function fileTempDir(prefix = "dropship-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
