import { expect, test } from "bun:test";
import {
  chmodSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import {
  BLOCK,
  blockDelta,
  type Pack,
  packed,
  sameBlocks,
  unpackCommand,
} from "../../../server/shared/packing.ts";
import { fileTempDir } from "../../helpers/tmp.ts";

const dir = fileTempDir("dropship-packing-");
const PACKING = resolve(import.meta.dir, "../../../server/shared/packing.ts");
const sha = (path: string) =>
  new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");

/** 2 MiB that compress like a binary: mostly shared, a little of its own. */
function binary(name: string, own: string): string {
  const path = join(dir, name);
  const shared = Buffer.alloc(2 * 1024 * 1024);
  for (let i = 0; i < shared.length; i += 4) shared.writeUInt32LE((i * 2654435761) >>> 0, i);
  writeFileSync(path, Buffer.concat([shared, Buffer.from(own.repeat(1000))]));
  return path;
}

const unpack = (pack: Pack, target: string, base?: string) =>
  Bun.spawnSync(["sh", "-c", unpackCommand(pack.file, target, base, pack.runs)]).exitCode;

test("a whole pack and a delta against a base both unpack to the very file", async () => {
  const cache = join(dir, "cache-1");
  const app = binary("app", "app code ");
  const monitor = binary("monitor", "monitor code ");
  const whole = await packed(cache, app, sha(app), undefined);
  const delta = await packed(cache, monitor, sha(monitor), { path: app, sha: sha(app) });
  expect(whole.runs).toBeUndefined();
  expect(Bun.file(whole.file).size).toBeLessThan(Bun.file(app).size);
  // their first two blocks are the same, as two builds share the runtime: copied on the host,
  // and only the rest is sent
  expect(delta.runs).toEqual([
    { from: "base", start: 0, count: 2 },
    { from: "pack", start: 2, count: 1 },
  ]);
  expect(Bun.file(delta.file).size).toBeLessThan(Bun.file(monitor).size / 50);
  expect(unpack(whole, join(dir, "app.out"))).toBe(0);
  expect(unpack(delta, join(dir, "monitor.out"), app)).toBe(0);
  expect(sha(join(dir, "app.out"))).toBe(sha(app));
  expect(sha(join(dir, "monitor.out"))).toBe(sha(monitor));
  // the host's command removes the pack it read, and what it unpacked from it (the host's
  // files are the cache's here); the delta's runs stay on this machine for the next host
  expect(readdirSync(join(cache, "packed"))).toEqual([
    `${sha(app)}-${sha(monitor)}.blocks.zst.runs`,
  ]);
});

test("a block delta copies what matches wherever it is, and sends a header that differs", async () => {
  const cache = join(dir, "cache-6");
  const app = join(dir, "app6");
  writeFileSync(
    app,
    Buffer.concat([readFileSync(binary("part6", "")), readFileSync(binary("x6", "app"))]),
  );
  // another header in the first block (as the ELF header of a binary of another size), the
  // same three blocks after it, another end
  const bytes = readFileSync(app);
  bytes.write("ELF", 40);
  const other = join(dir, "other6");
  writeFileSync(
    other,
    Buffer.concat([bytes.subarray(0, 4 * BLOCK), Buffer.from("end".repeat(99))]),
  );
  const delta = await packed(cache, other, sha(other), { path: app, sha: sha(app) });
  expect(delta.runs).toEqual([
    { from: "pack", start: 0, count: 1 },
    { from: "base", start: 1, count: 3 },
    { from: "pack", start: 4, count: 1 },
  ]);
  expect(unpack(delta, join(dir, "other6.out"), app)).toBe(0);
  expect(sha(join(dir, "other6.out"))).toBe(sha(other));
});

test("a file that matches its base in less than half its blocks is a zstd patch of it", async () => {
  const cache = join(dir, "cache-5");
  const app = binary("app5", "app code ");
  const moved = join(dir, "moved");
  // another runtime in front: every block is shifted
  writeFileSync(moved, Buffer.concat([Buffer.from("another runtime"), readFileSync(app)]));
  expect(await sameBlocks(app, moved)).toEqual([false, false, false]);
  const delta = await packed(cache, moved, sha(moved), { path: app, sha: sha(app) });
  expect(delta.runs).toBeUndefined();
  expect(Bun.file(delta.file).size).toBeLessThan(Bun.file(moved).size / 50);
  expect(unpack(delta, join(dir, "moved.out"), app)).toBe(0);
  expect(sha(join(dir, "moved.out"))).toBe(sha(moved));
});

test("a block delta's runs: stretches of blocks copied or sent, when half or more are copied", () => {
  expect(blockDelta([true, true, false, true, false])).toEqual([
    { from: "base", start: 0, count: 2 },
    { from: "pack", start: 2, count: 1 },
    { from: "base", start: 3, count: 1 },
    { from: "pack", start: 4, count: 1 },
  ]);
  expect(blockDelta([false, true, false])).toBeUndefined();
  expect(blockDelta([])).toBeUndefined();
});

test("hosts asking at once share one pack; a pack unused for a week goes when the next is made", async () => {
  const cache = join(dir, "cache-2");
  const app = binary("app2", "v2 ");
  const [a, b] = await Promise.all([
    packed(cache, app, sha(app), undefined),
    packed(cache, app, sha(app), undefined),
  ]);
  expect(a).toBe(b);
  expect(readdirSync(join(cache, "packed"))).toEqual([`${sha(app)}.zst`]);
  const weekAgo = new Date(Date.now() - 8 * 24 * 60 * 60 * 1000);
  utimesSync(a.file, weekAgo, weekAgo);
  // used again: kept, and its clock starts over
  expect(await packed(cache, app, sha(app), undefined)).toEqual(a);
  const other = binary("app3", "v3 ");
  await packed(cache, other, sha(other), undefined);
  expect(readdirSync(join(cache, "packed")).sort()).toEqual(
    [`${sha(app)}.zst`, `${sha(other)}.zst`].sort(),
  );
  utimesSync(a.file, weekAgo, weekAgo);
  const third = binary("app4", "v4 ");
  await packed(cache, third, sha(third), undefined);
  expect(readdirSync(join(cache, "packed")).sort()).toEqual(
    [`${sha(other)}.zst`, `${sha(third)}.zst`].sort(),
  );
});

test("a file zstd cannot read is an error that names it, and leaves no half-made pack", async () => {
  const cache = join(dir, "cache-3");
  const missing = join(dir, "missing");
  await expect(packed(cache, missing, "0".repeat(64), undefined)).rejects.toThrow(
    `zstd could not pack ${missing}`,
  );
  expect(readdirSync(join(cache, "packed"))).toEqual([]);
});

test("a delta made before is found by name, its runs kept beside it: the two files are not read again", async () => {
  const cache = join(dir, "cache-7");
  const app = binary("app7", "app code ");
  const other = binary("other7", "other code ");
  const first = await packed(cache, other, sha(other), { path: app, sha: sha(app) });
  expect(first.runs).toBeDefined();
  const baseSha = sha(app);
  // the base gone from this machine: comparing again would find no block the same
  rmSync(app);
  const again = await packed(cache, other, sha(other), { path: app, sha: baseSha });
  expect(again).toEqual(first);
  // a week unused goes for both, the pack and its runs
  const weekAgo = new Date(Date.now() - 8 * 24 * 60 * 60 * 1000);
  for (const name of readdirSync(join(cache, "packed")))
    utimesSync(join(cache, "packed", name), weekAgo, weekAgo);
  const third = binary("third7", "third ");
  await packed(cache, third, sha(third), undefined);
  expect(readdirSync(join(cache, "packed"))).toEqual([`${sha(third)}.zst`]);
});

test("zstd failing while it is fed the blocks is an error with what it said, and leaves nothing half-made", async () => {
  const cache = join(dir, "cache-8");
  const app = binary("app8", "app code ");
  const other = binary("other8", "other code ");
  // a zstd that creates its output, then fails as a full disk makes it
  const bin = join(dir, "failing-zstd");
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    join(bin, "zstd"),
    '#!/bin/sh\nfor a; do [ "$prev" = -o ] && : > "$a"; prev=$a; done\necho "zstd: error 70 : Write error : No space left on device" >&2\nexit 1\n',
  );
  chmodSync(join(bin, "zstd"), 0o755);
  // in a process of its own: Bun.spawn finds programs on the PATH its process started with
  const pack = Bun.spawnSync(
    [
      process.execPath,
      "-e",
      `const { packed } = await import(${JSON.stringify(PACKING)});
       await packed(...${JSON.stringify([cache, other, sha(other), { path: app, sha: sha(app) }])})`,
    ],
    { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, stderr: "pipe" },
  );
  expect(pack.exitCode).toBe(1);
  expect(pack.stderr.toString()).toContain(
    `zstd could not pack ${other}: zstd: error 70 : Write error : No space left on device`,
  );
  expect(readdirSync(join(cache, "packed"))).toEqual([]);
});
