import { expect, test } from "bun:test";
import { closeSync, mkdirSync, openSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { fileSha256, knownSha256 } from "../../../server/shared/file-digest.ts";
import { tempDir } from "../../helpers/tmp.ts";

test("a file's SHA-256 read in chunks is sha256sum's, for a file of many chunks and an empty one", async () => {
  const dir = tempDir("dropship-digest-");
  const big = join(dir, "big");
  writeFileSync(
    big,
    new Uint8Array(5 * 1024 * 1024 + 17).map((_, i) => (i * 31) % 251),
  );
  const empty = join(dir, "empty");
  writeFileSync(empty, "");
  for (const path of [big, empty]) {
    const sum = Bun.spawnSync(["sha256sum", path]).stdout.toString().split(" ")[0];
    expect(await fileSha256(path)).toBe(sum as string);
  }
});

test("a digest read before is given again while the file is as it was; a file changed is read anew", async () => {
  const dir = tempDir("dropship-digest-");
  const path = join(dir, "dropship-app");
  writeFileSync(path, "release one\n");
  const first = await fileSha256(path);
  const sum = (text: string) => new Bun.CryptoHasher("sha256").update(text).digest("hex");
  expect(first).toBe(sum("release one\n"));
  // the same bytes changed in place with its time put back: only a read from the disk sees it
  // (touch -r: the time to the nanosecond, which a Date would round)
  const stamp = join(dir, "stamp");
  writeFileSync(stamp, "");
  expect(Bun.spawnSync(["touch", "-r", path, stamp]).exitCode).toBe(0);
  const fd = openSync(path, "r+");
  writeSync(fd, "RELEASE");
  closeSync(fd);
  expect(Bun.spawnSync(["touch", "-r", stamp, path]).exitCode).toBe(0);
  expect(await knownSha256(path)).toBe(first);
  expect(await fileSha256(path)).toBe(sum("RELEASE one\n"));
  // rewritten (another time, another size): the process's digest is not used
  writeFileSync(path, "release two\n\n");
  expect(await knownSha256(path)).toBe(sum("release two\n\n"));
  // replaced by another file of the same size and time: another inode, read anew
  const other = join(dir, "other");
  writeFileSync(other, "release 3!\n\n\n");
  expect(Bun.spawnSync(["touch", "-r", path, other]).exitCode).toBe(0);
  renameSync(other, path);
  expect(await knownSha256(path)).toBe(sum("release 3!\n\n\n"));
});

test("a file missing or not a file is an error naming the fault, from either", async () => {
  const dir = tempDir("dropship-digest-");
  await expect(knownSha256(join(dir, "missing"))).rejects.toThrow(/ENOENT/);
  const path = join(dir, "unreadable");
  mkdirSync(path);
  await expect(fileSha256(path)).rejects.toThrow(/EISDIR/);
  await expect(knownSha256(path)).rejects.toThrow(/EISDIR/);
});
