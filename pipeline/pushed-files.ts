import { lstatSync, mkdirSync, readFileSync, type Stats } from "node:fs";
import { join } from "node:path";

/**
 * The receiver reads and copies a few files of the pushed tree as root, outside the sandbox:
 * package.json, the lock file, what the build made. The tree is the pusher's: a committed
 * symbolic link (or one its build made), a FIFO or a device there would have the receiver
 * read, copy and ship a file of the control host's — its SSH key, `.dropship/fleet.env` — or
 * wait for ever. So no link is followed, on the way or at the end: each is refused, named.
 */
export class PushedFileError extends Error {
  override name = "PushedFileError";
}

function kindOf(stat: Stats): string {
  if (stat.isSymbolicLink()) return "a symbolic link";
  if (stat.isDirectory()) return "a folder";
  if (stat.isFIFO()) return "a FIFO";
  if (stat.isSocket()) return "a socket";
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return "a device";
  return "a file";
}

function lstatOrNothing(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/**
 * Whether the tree under `root` has a plain file (or, with `folder`, a folder) at `relative`,
 * each folder on the way a real one; nothing there is false, anything else is refused.
 */
export function plainIn(root: string, relative: string, what: "file" | "folder" = "file"): boolean {
  const parts = relative.split("/");
  let path = root;
  for (const [i, part] of parts.entries()) {
    path = join(path, part);
    const stat = lstatOrNothing(path);
    if (!stat) return false;
    const wanted = i === parts.length - 1 ? what : "folder";
    if (wanted === "file" ? stat.isFile() : stat.isDirectory()) continue;
    const name = parts.slice(0, i + 1).join("/");
    throw new PushedFileError(
      `${name} is ${kindOf(stat)}, not a ${wanted}: the receiver reads the pushed tree as root and never follows a link out of it; make ${name} a plain ${wanted}`,
    );
  }
  return true;
}

/** A plain file of the tree, read whole when it is no larger than `maxBytes`. */
export function readPlain(root: string, relative: string, maxBytes: number): Buffer {
  if (!plainIn(root, relative)) throw new PushedFileError(`${relative} is not there`);
  const size = lstatSync(join(root, relative)).size;
  if (size > maxBytes)
    throw new PushedFileError(
      `${relative} is ${size} bytes, more than the ${maxBytes} the receiver reads of it`,
    );
  return readFileSync(join(root, relative));
}

/** The folder at `relative`, made when nothing is there; anything but a real folder is refused. */
export function plainFolder(root: string, relative: string): string {
  if (!plainIn(root, relative, "folder")) mkdirSync(join(root, relative));
  return join(root, relative);
}
