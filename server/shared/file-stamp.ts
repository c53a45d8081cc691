import { statSync } from "node:fs";

/**
 * What a file is now (device, inode, size, time), so a change is told from none with a stat: a
 * save, an editor's rename over it and its removal ("missing") each change it.
 */
export function fileStamp(path: string): string {
  try {
    const stat = statSync(path);
    return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}`;
  } catch {
    return "missing";
  }
}
