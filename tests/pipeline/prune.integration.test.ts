import { expect, test } from "bun:test";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describePrune, INSTALLS_KEPT, pruneWorkDir } from "../../pipeline/prune.ts";
import { fileTempDir } from "../helpers/tmp.ts";

const DAY = 24 * 60 * 60 * 1000;
const MIB = 1024 * 1024;
const sha = (data: string | Uint8Array) =>
  new Bun.CryptoHasher("sha256").update(data).digest("hex");

/** A release as a push keeps it: its binaries (1 MiB each here), SOURCES and SHA256SUMS. */
function keepRelease(work: string, version: string, daysAgo: number, sums = true): string[] {
  const dir = join(work, "releases", version);
  mkdirSync(dir, { recursive: true });
  const digests = ["dropship-app", "dropship-monitor", "dropship-proxy"].map((name) => {
    const data = `${version} ${name}`.padEnd(MIB, ".");
    writeFileSync(join(dir, name), data);
    return [sha(data), name] as const;
  });
  writeFileSync(join(dir, "SOURCES"), `${version}\n`);
  if (sums)
    writeFileSync(join(dir, "SHA256SUMS"), digests.map(([d, n]) => `${d}  ${n}\n`).join(""));
  const at = new Date(Date.now() - daysAgo * DAY);
  utimesSync(dir, at, at);
  return digests.map(([d]) => d);
}

/** A delivered copy, named by its digest as deliver.ts names it. */
function copy(work: string, digest: string, daysAgo: number): void {
  const dir = join(work, "cache", "releases");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${digest}.bin`);
  writeFileSync(file, new Uint8Array(MIB));
  const at = new Date(Date.now() - daysAgo * DAY);
  utimesSync(file, at, at);
}

test("a work directory after many pushes keeps the newest releases, those in use, their copies and the last installs", () => {
  const work = fileTempDir();
  const digests: Record<string, string[]> = {};
  // ten releases, a day apart; "c" is still run by a host, "b" was kept before SHA256SUMS
  for (const [i, version] of ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"].entries())
    digests[version] = keepRelease(work, version, 10 - i, version !== "b");
  for (const version of ["a", "c", "i", "j"])
    for (const digest of digests[version] ?? []) copy(work, digest, 1);
  copy(work, "f".repeat(64), 0.01); // delivered minutes ago by a push beside this one
  const installs = join(work, "cache", "node_modules");
  for (const [i, key] of ["k1", "k2", "k3", "k4", "k5"].entries()) {
    mkdirSync(join(installs, key, "node_modules"), { recursive: true });
    const at = new Date(Date.now() - (5 - i) * DAY);
    utimesSync(join(installs, key), at, at);
  }
  // the oldest install used again today, as the gate marks a cached install it uses
  utimesSync(join(installs, "k1"), new Date(), new Date());

  const report = pruneWorkDir(work, { keepReleases: 3, inUse: ["c", "b", "nothing-of-ours"] });

  expect(readdirSync(join(work, "releases")).sort()).toEqual(["b", "c", "h", "i", "j"]);
  expect(report.releases).toEqual(["a", "d", "e", "f", "g"]);
  // "b" was read once and given a SHA256SUMS, so its digests are known from now on
  expect(readFileSync(join(work, "releases", "b", "SHA256SUMS"), "utf8")).toContain(
    `${digests.b?.[0]}  dropship-app`,
  );
  const left = readdirSync(join(work, "cache", "releases")).sort();
  expect(left).toEqual(
    [...(digests.c ?? []), ...(digests.i ?? []), ...(digests.j ?? []), "f".repeat(64)]
      .map((d) => `${d}.bin`)
      .sort(),
  );
  expect(report.copies).toBe(3);
  expect(readdirSync(installs).sort()).toEqual(["k1", "k4", "k5"]);
  expect(INSTALLS_KEPT).toBe(3);
  expect(report.installs).toBe(2);
  expect(describePrune(report)).toStartWith(
    "let go of 5 older releases (a, d, e, f, g), 3 delivered copies, 2 dependency installs: ",
  );

  // a second prune has nothing left to let go of, and says nothing
  const again = pruneWorkDir(work, { keepReleases: 3, inUse: ["c", "b"] });
  expect(again.releases).toEqual([]);
  expect(describePrune(again)).toBeUndefined();
});

test("an empty or new work directory is pruned without a fault", () => {
  const work = fileTempDir();
  expect(pruneWorkDir(work, { keepReleases: 5, inUse: [] })).toMatchObject({
    releases: [],
    copies: 0,
    installs: 0,
  });
  expect(existsSync(join(work, "releases"))).toBe(false);
});
