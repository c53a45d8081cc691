import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { roleLockHeld, withRoleLock } from "../../pipeline/lock.ts";
import { waitForLine } from "../helpers/processes.ts";
import { tempDir } from "../helpers/tmp.ts";

const LOCK = resolve(import.meta.dir, "../../pipeline/lock.ts");

/** A deploy that takes the role's lock within 100 ms, or fails. */
const deployAtOnce = (dir: string, role = "production") =>
  withRoleLock(
    dir,
    role,
    "next",
    100,
    () => {},
    async () => "ran",
  );

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
  expect(roleLockHeld(dir, "production")).toBe(true);
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
  // another role is not held up, and the lock is free once its holder is done
  expect(roleLockHeld(dir, "staging")).toBe(false);
  expect(await deployAtOnce(dir, "staging")).toBe("ran");
  release();
  await holding;
  expect(roleLockHeld(dir, "production")).toBe(false);
  // asking whether it is held takes nothing from the next deploy
  expect(await deployAtOnce(dir)).toBe("ran");
});

test("a holder that is killed lets go at once, and of two waiters only one goes in at a time", async () => {
  const dir = tempDir();
  const log = join(dir, "log");
  writeFileSync(log, "");
  // a deploy in a process of its own: in, a while, out; each step appended to the log
  const script = join(dir, "deploy.ts");
  writeFileSync(
    script,
    `import { appendFileSync } from "node:fs";
import { withRoleLock } from ${JSON.stringify(LOCK)};
const [name, ms] = [process.argv[2], Number(process.argv[3])];
await withRoleLock(${JSON.stringify(join(dir, "locks"))}, "production", name, 10_000, (l) => console.log(l), async () => {
  appendFileSync(${JSON.stringify(log)}, name + " in\\n");
  // a process the deploy starts that outlives it (an ssh control master) holds no lock
  const child = name === "holder" ? Bun.spawn(["sleep", "30"], { stdio: ["ignore", "ignore", "ignore"] }) : undefined;
  child?.unref();
  console.log("in", child?.pid ?? 0);
  await Bun.sleep(ms);
  appendFileSync(${JSON.stringify(log)}, name + " out\\n");
});
`,
  );
  const deploy = (name: string, ms: number) =>
    Bun.spawn([process.execPath, script, name, String(ms)], { stdout: "pipe", stderr: "inherit" });
  const holder = deploy("holder", 60_000);
  let child = 0;
  try {
    const said = await waitForLine(holder.stdout, /^in \d+$/m, 10_000, "the holder");
    child = Number(/^in (\d+)$/m.exec(said)?.[1]);
    const waiters = [deploy("first", 300), deploy("second", 300)];
    for (const waiter of waiters)
      await waitForLine(
        waiter.stdout,
        /waiting: a production deploy is running \(holder\)/,
        10_000,
        "a waiter",
      );
    // dies holding it: no exit handler runs, nothing is cleaned up
    holder.kill("SIGKILL");
    expect(await Promise.all(waiters.map((w) => w.exited))).toEqual([0, 0]);
  } finally {
    holder.kill("SIGKILL");
    if (child) process.kill(child, "SIGKILL");
  }
  const lines = readFileSync(log, "utf8").trim().split("\n");
  expect(lines[0]).toBe("holder in");
  // each waiter's out comes before the other's in
  const order = lines.slice(1).map((l) => l.split(" ")[1]);
  expect(order).toEqual(["in", "out", "in", "out"]);
  expect(
    lines
      .slice(1)
      .map((l) => l.split(" ")[0])
      .sort(),
  ).toEqual(["first", "first", "second", "second"]);
  expect(roleLockHeld(join(dir, "locks"), "production")).toBe(false);
});

test("a lock file an older dropship left, empty or naming a dead holder, holds no one up", async () => {
  for (const left of ["", JSON.stringify({ pid: 2 ** 22 + 1, holder: "gone" })]) {
    const dir = tempDir();
    writeFileSync(join(dir, "production.lock"), left);
    expect(roleLockHeld(dir, "production")).toBe(false);
    expect(await deployAtOnce(dir)).toBe("ran");
  }
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
});
