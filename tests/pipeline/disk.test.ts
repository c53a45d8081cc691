import { describe, expect, test } from "bun:test";
import { linkSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { diskLimits, heldIn, LEAST_AUTO_MIB, mostHeld, pastLimit } from "../../pipeline/disk.ts";
import { fileTempDir } from "../helpers/tmp.ts";

const MIB = 1024 * 1024;
const free = (mib: number, ffree = 100_000, files = 1_000_000) => ({
  bavail: (mib * MIB) / 4096,
  bsize: 4096,
  ffree,
  files,
});

describe("diskLimits", () => {
  test("auto is half the space and half the files free when the push begins", () => {
    expect(diskLimits("auto", free(10_000))).toEqual({ bytes: 5000 * MIB, files: 50_000 });
  });

  test("a number is MiB, whatever is free; the files stay half those free", () => {
    expect(diskLimits(300, free(100_000, 8))).toEqual({ bytes: 300 * MIB, files: 4 });
  });

  test("a filesystem that counts no files (btrfs) gets no file bound", () => {
    expect(diskLimits("auto", free(10_000, 0, 0))).toEqual({ bytes: 5000 * MIB });
  });

  test("auto on a disk nearly full answers nothing: the push is refused, not run", () => {
    expect(diskLimits("auto", free(2 * LEAST_AUTO_MIB - 1))).toBeUndefined();
    expect(diskLimits("auto", free(2 * LEAST_AUTO_MIB))).toEqual({
      bytes: LEAST_AUTO_MIB * MIB,
      files: 50_000,
    });
    expect(diskLimits(64, free(10))).toEqual({ bytes: 64 * MIB, files: 50_000 });
  });
});

describe("pastLimit and mostHeld", () => {
  const limits = { bytes: 100 * MIB, files: 10 };

  test("names the bound a use is past", () => {
    expect(pastLimit({ bytes: 100 * MIB, files: 10 }, limits)).toBeUndefined();
    expect(pastLimit({ bytes: 100 * MIB + 1, files: 0 }, limits)).toBe("bytes");
    expect(pastLimit({ bytes: 0, files: 11 }, limits)).toBe("files");
    expect(pastLimit({ bytes: 0, files: 1e9 }, { bytes: 1 })).toBeUndefined();
  });

  test("the workspace holds at most what it held plus what the filesystem filled since", () => {
    const then = free(1000, 500);
    expect(mostHeld({ bytes: 10 * MIB, files: 3 }, then, free(900, 480))).toEqual({
      bytes: 110 * MIB,
      files: 23,
    });
    // space freed beside it does not count as the workspace shrinking
    expect(mostHeld({ bytes: 10 * MIB, files: 3 }, then, free(2000, 900))).toEqual({
      bytes: 10 * MIB,
      files: 3,
    });
  });
});

describe("heldIn", () => {
  test("counts a tree's blocks and files, a file with many links once, a link not followed", async () => {
    const dir = fileTempDir();
    mkdirSync(join(dir, "a", "b"), { recursive: true });
    writeFileSync(join(dir, "a", "b", "one"), new Uint8Array(MIB).fill(1));
    linkSync(join(dir, "a", "b", "one"), join(dir, "a", "same"));
    symlinkSync("/usr", join(dir, "a", "usr"));
    writeFileSync(join(dir, "empty"), "");
    const use = await heldIn(dir, { bytes: 1e12, files: 1e6 });
    // a, a/b, a/b/one, a/usr, empty (a/same is a/b/one again)
    expect(use.files).toBe(5);
    expect(use.bytes).toBeGreaterThanOrEqual(MIB);
    expect(use.bytes).toBeLessThan(MIB + 64 * 1024);
  });

  test("stops counting once past a limit", async () => {
    const dir = fileTempDir();
    for (let i = 0; i < 50; i++) mkdirSync(join(dir, `d${i}`, "x", "y"), { recursive: true });
    expect((await heldIn(dir, { bytes: 1e12 })).files).toBe(150);
    const stopped = await heldIn(dir, { bytes: 1e12, files: 20 });
    expect(pastLimit(stopped, { bytes: 1e12, files: 20 })).toBe("files");
    expect(stopped.files).toBeLessThan(150);
  });

  test("a folder that is not there holds nothing", async () => {
    expect(await heldIn(join(fileTempDir(), "gone"), { bytes: 1 })).toEqual({ bytes: 0, files: 0 });
  });
});
