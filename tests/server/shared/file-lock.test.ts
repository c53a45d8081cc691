import { expect, test } from "bun:test";
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import { tryLockExclusive, tryLockShared, unlock } from "../../../server/shared/file-lock.ts";
import { tempDir } from "../../helpers/tmp.ts";

test("an exclusive lock keeps out every other open of the file until unlocked or closed", () => {
  const file = join(tempDir(), "x.lock");
  const a = openSync(file, "a");
  const b = openSync(file, "a");
  const c = openSync(file, "a");
  try {
    expect(tryLockExclusive(a, file)).toBe(true);
    expect(tryLockExclusive(b, file)).toBe(false);
    expect(tryLockShared(b, file)).toBe(false);
    unlock(a, file);
    // shared locks go together, and keep the exclusive one out
    expect(tryLockShared(b, file)).toBe(true);
    expect(tryLockShared(c, file)).toBe(true);
    expect(tryLockExclusive(a, file)).toBe(false);
    closeSync(b);
    closeSync(c);
    expect(tryLockExclusive(a, file)).toBe(true);
  } finally {
    closeSync(a);
  }
});

test("a file that is not open is an error that names it, not a lock held by someone", () => {
  const file = join(tempDir(), "x.lock");
  const fd = openSync(file, "a");
  closeSync(fd);
  expect(() => tryLockExclusive(fd, file)).toThrow(`${file}: flock failed (errno 9)`);
});
