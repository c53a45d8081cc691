import { afterAll } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A disk of its own, `mib` MiB (a tmpfs, so it fills in memory and nothing else notices), on a
 * fresh folder; unmounted and removed after the file. Call `remove` when the file's set-up
 * fails: bun runs no afterAll then, and the mount would stay.
 */
export function diskOfItsOwn(mib: number): { path: string; remove: () => void } {
  const top = mkdtempSync(join(tmpdir(), "dropship-test-disk-"));
  const path = join(top, "disk");
  mkdirSync(path);
  const mounted = Bun.spawnSync([
    "mount",
    "-t",
    "tmpfs",
    "-o",
    `size=${mib}m`,
    "dropship-test",
    path,
  ]);
  if (mounted.exitCode !== 0) throw new Error(`mount a tmpfs at ${path}: ${mounted.stderr}`);
  // the mount first, then the folder it was on
  const remove = () => {
    Bun.spawnSync(["umount", "-l", path]);
    rmSync(top, { recursive: true, force: true });
  };
  afterAll(remove);
  return { path, remove };
}
