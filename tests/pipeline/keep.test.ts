import { describe, expect, test } from "bun:test";
import {
  copiesToDrop,
  digestsOf,
  installsToDrop,
  RECENT_MS,
  releasesToDrop,
} from "../../pipeline/keep.ts";

const DAY = 24 * 60 * 60 * 1000;
const NOW = Date.UTC(2026, 11, 4);
const aged = (name: string, days: number) => ({ name, at: NOW - days * DAY });

describe("releasesToDrop", () => {
  const releases = [aged("r1", 9), aged("r2", 8), aged("r3", 7), aged("r4", 6), aged("r5", 5)];

  test("keeps the newest, whatever order they are listed in", () => {
    expect(releasesToDrop(releases, 2, new Set(), NOW).sort()).toEqual(["r1", "r2", "r3"]);
    expect(releasesToDrop([...releases].reverse(), 2, new Set(), NOW).sort()).toEqual([
      "r1",
      "r2",
      "r3",
    ]);
    expect(releasesToDrop(releases, 5, new Set(), NOW)).toEqual([]);
  });

  test("never one a host or a role runs, however old", () => {
    expect(releasesToDrop(releases, 2, new Set(["r1", "zz"]), NOW).sort()).toEqual(["r2", "r3"]);
  });

  test("never one made or used within the hour: a push beside this one may be delivering it", () => {
    const fresh = [...releases, { name: "r0", at: NOW - RECENT_MS + 1000 }];
    expect(releasesToDrop(fresh, 1, new Set(), NOW)).toEqual(["r1", "r2", "r3", "r4", "r5"]);
    // with none kept by count, only the hour holds one back
    const touched = [{ name: "old", at: NOW - RECENT_MS / 2 }, aged("newer", 0.5), aged("x", 1)];
    expect(releasesToDrop(touched, 0, new Set(), NOW).sort()).toEqual(["newer", "x"]);
  });
});

describe("copiesToDrop", () => {
  test("a delivered copy goes once no kept release has its digest, unless just used", () => {
    const copies = [aged("aaa.bin", 3), aged("bbb.bin", 3), { name: "ccc.bin", at: NOW - 1000 }];
    expect(copiesToDrop(copies, new Set(["aaa"]), NOW)).toEqual(["bbb.bin"]);
    expect(copiesToDrop(copies, new Set(["aaa", "bbb", "ccc"]), NOW)).toEqual([]);
  });
});

describe("installsToDrop", () => {
  test("keeps the last used, by when they were used", () => {
    const installs = [aged("l1", 1), aged("l2", 30), aged("l3", 2), aged("l4", 40)];
    expect(installsToDrop(installs, 2, NOW).sort()).toEqual(["l2", "l4"]);
  });
});

describe("digestsOf", () => {
  test("reads sha256sum's lines and nothing else", () => {
    const a = "a".repeat(64);
    const b = "0123456789abcdef".repeat(4);
    expect(
      digestsOf(
        `${a}  dropship-app\n${b}  dropship-proxy\n\nnot a digest  x\n${"A".repeat(64)}  y\n`,
      ),
    ).toEqual([a, b]);
    expect(digestsOf("")).toEqual([]);
  });
});
