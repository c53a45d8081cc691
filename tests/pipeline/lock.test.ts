import { expect, test } from "bun:test";
import { existsSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { withRoleLock } from "../../pipeline/lock.ts";
import { tempDir } from "../helpers/tmp.ts";

test("a second deploy of a role waits, says for whom, and gives up after the lock timeout", async () => {
  const dir = tempDir();
  const said: string[] = [];
  let release = () => {};
  const holding = withRoleLock(
    dir,
    "production",
    "master abc by ann",
    1000,
    () => {},
    () =>
      new Promise<void>((resolve) => {
        release = resolve;
      }),
  );
  await Bun.sleep(20);
  const started = performance.now();
  await expect(
    withRoleLock(
      dir,
      "production",
      "master def by bob",
      400,
      (l) => said.push(l),
      async () => 1,
    ),
  ).rejects.toThrow("gave up after 0 s waiting for the production deploy of master abc by ann");
  expect(performance.now() - started).toBeGreaterThanOrEqual(400);
  expect(said).toEqual(["waiting: a production deploy is running (master abc by ann)"]);
  // another role is not held up, and the lock is gone once its holder is done
  expect(
    await withRoleLock(
      dir,
      "staging",
      "staging x",
      100,
      () => {},
      async () => "ran",
    ),
  ).toBe("ran");
  release();
  await holding;
  expect(existsSync(join(dir, "production.lock"))).toBe(false);
});

test("a lock left by a process that died is taken over", async () => {
  const dir = tempDir();
  // a pid that is not running: the holder crashed without releasing
  writeFileSync(join(dir, "production.lock"), JSON.stringify({ pid: 2 ** 22 + 1, holder: "gone" }));
  expect(
    await withRoleLock(
      dir,
      "production",
      "next",
      200,
      () => {},
      async () => "ran",
    ),
  ).toBe("ran");
});

test("a lock file with no holder in it is waited on while new, and taken over once stale", async () => {
  const dir = tempDir();
  const file = join(dir, "production.lock");
  // what an earlier dropship left when it died between creating the file and writing it
  writeFileSync(file, "");
  const said: string[] = [];
  await expect(
    withRoleLock(
      dir,
      "production",
      "next",
      300,
      (l) => said.push(l),
      async () => "ran",
    ),
  ).rejects.toThrow("waiting for the production deploy of another push");
  expect(said).toEqual(["waiting: a production deploy is running (another push)"]);
  const old = new Date(Date.now() - 60_000);
  utimesSync(file, old, old);
  expect(
    await withRoleLock(
      dir,
      "production",
      "next",
      300,
      () => {},
      async () => "ran",
    ),
  ).toBe("ran");
  // nothing of either try is left behind
  expect(readdirSync(dir)).toEqual([]);
});

test("one process asking twice for a role's lock takes turns with itself", async () => {
  const dir = tempDir();
  const order: string[] = [];
  const hold = (name: string) =>
    withRoleLock(
      dir,
      "production",
      name,
      5000,
      () => {},
      async () => {
        order.push(`${name} in`);
        await Bun.sleep(100);
        order.push(`${name} out`);
      },
    );
  await Promise.all([hold("first"), hold("second")]);
  expect(order).toEqual(["first in", "first out", "second in", "second out"]);
  expect(readdirSync(dir)).toEqual([]);
});
