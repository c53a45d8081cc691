import { expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { packed, unpackCommand } from "../../../server/shared/packing.ts";
import { fileTempDir } from "../../helpers/tmp.ts";

const dir = fileTempDir("dropship-packing-");
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

const unpack = (pack: string, target: string, base?: string) =>
  Bun.spawnSync(["sh", "-c", unpackCommand(pack, target, base)]).exitCode;

test("a whole pack and a delta against a base both unpack to the very file", async () => {
  const cache = join(dir, "cache-1");
  const app = binary("app", "app code ");
  const monitor = binary("monitor", "monitor code ");
  const whole = await packed(cache, app, sha(app), undefined);
  const delta = await packed(cache, monitor, sha(monitor), { path: app, sha: sha(app) });
  expect(Bun.file(whole).size).toBeLessThan(Bun.file(app).size);
  expect(Bun.file(delta).size).toBeLessThan(Bun.file(monitor).size / 50);
  expect(unpack(whole, join(dir, "app.out"))).toBe(0);
  expect(unpack(delta, join(dir, "monitor.out"), app)).toBe(0);
  expect(sha(join(dir, "app.out"))).toBe(sha(app));
  expect(sha(join(dir, "monitor.out"))).toBe(sha(monitor));
  // the host's command removes the pack it read
  expect(existsSync(whole)).toBe(false);
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
  utimesSync(a, weekAgo, weekAgo);
  // used again: kept, and its clock starts over
  expect(await packed(cache, app, sha(app), undefined)).toBe(a);
  const other = binary("app3", "v3 ");
  await packed(cache, other, sha(other), undefined);
  expect(readdirSync(join(cache, "packed")).sort()).toEqual(
    [`${sha(app)}.zst`, `${sha(other)}.zst`].sort(),
  );
  utimesSync(a, weekAgo, weekAgo);
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
