import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { HookError, type HookEvent, hookEnvironment, runHook } from "../../pipeline/hooks.ts";
import { isAlive } from "../../server/shared/proc.ts";
import { tempDir } from "../helpers/tmp.ts";

const EVENT: HookEvent = {
  command: "push",
  role: "production",
  branch: "master",
  commit: "a".repeat(40),
  version: "aaaaaaaaaaaa",
  performer: "ann",
  hosts: ["web-1", "web-2"],
};

function hooked(command: string, timeoutMs = 10_000, event: HookEvent = EVENT) {
  const said: string[] = [];
  const dir = tempDir("dropship-hook-");
  const done = runHook("pre_deploy", command, event, {
    timeoutMs,
    cwd: dir,
    say: (line) => said.push(line),
  });
  return { said, dir, done };
}

test("a hook is told the deploy, and nothing of the receiver's secrets", () => {
  const env = hookEnvironment(
    { ...EVENT, runtime: 12.345 },
    {
      PATH: "/opt/bin:/usr/bin",
      HOME: "/home/dropship",
      DROPSHIP_ADMIN_TOKEN: "admin-secret",
      DIGITALOCEAN_TOKEN: "do-secret",
      REDIS_URL: "redis://:pw@10.0.0.2:6379/0",
      SMTP_URL: "smtp://u:p@mail",
    },
  );
  expect(env).toMatchObject({
    PATH: "/opt/bin:/usr/bin",
    HOME: "/home/dropship",
    DROPSHIP_COMMAND: "push",
    DROPSHIP_ROLE: "production",
    DROPSHIP_BRANCH: "master",
    DROPSHIP_COMMIT: "a".repeat(40),
    DROPSHIP_VERSION: "aaaaaaaaaaaa",
    DROPSHIP_PERFORMER: "ann",
    DROPSHIP_HOSTS: "web-1,web-2",
    DROPSHIP_RUNTIME: "12.3",
  });
  expect(env.DROPSHIP_RECORDED_AT).toMatch(/^\d{4}-\d\d-\d\dT/);
  expect(Object.values(env).join(" ")).not.toMatch(/secret|pw@|u:p@/);
  // before the deploy there is no runtime; with no PATH given, a shell's usual one
  const before = hookEnvironment(EVENT, {});
  expect(before.DROPSHIP_RUNTIME).toBeUndefined();
  expect(before.PATH).toBe("/usr/local/bin:/usr/bin:/bin");
});

test("a hook's output is said line by line, in its folder, and it passes with exit 0", async () => {
  const { said, dir, done } = hooked(
    'echo "shipping $DROPSHIP_VERSION to $DROPSHIP_HOSTS"; echo to-stderr >&2; pwd > where',
  );
  await done;
  // the command itself is not said: it may hold a webhook's secret
  expect(said[0]).toBe("▸ pipeline/hooks/pre_deploy");
  expect(said).toContain("    shipping aaaaaaaaaaaa to web-1,web-2");
  expect(said).toContain("    to-stderr");
  expect(said.at(-1)).toMatch(/^ {2}pipeline\/hooks\/pre_deploy: ok \(\d+\.\d s\)$/);
  expect(readFileSync(join(dir, "where"), "utf8").trim()).toBe(dir);
});

test("a hook's output is said in the order it was written, stdout and stderr together", async () => {
  // read from two pipes it came out a, c, b, d every time
  const { said, done } = hooked("echo a; echo b >&2; echo c; echo d >&2; exit 3");
  const error = await done.catch((e: unknown) => e);
  expect(said.slice(1)).toEqual(["    a", "    b", "    c", "    d"]);
  expect((error as Error).message).toMatch(/; it said: b \/ c \/ d$/);
});

test("a hook that fails names itself, its exit code and its last lines", async () => {
  const { done } = hooked("echo one; echo two; echo three; echo 'migration 42 failed' >&2; exit 3");
  const error = await done.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(HookError);
  expect((error as Error).message).toMatch(
    /^pipeline\/hooks\/pre_deploy failed \(exit 3\) after \d+\.\d s; it said: .*migration 42 failed$/,
  );
  expect((error as Error).message).not.toContain("one");
});

test("a hook past pipeline/hooks/timeout is stopped, with what it started", async () => {
  const { dir, done } = hooked("sleep 60 & echo $! > child; sleep 60", 500);
  const error = await done.catch((e: unknown) => e);
  expect((error as Error).message).toMatch(
    /^pipeline\/hooks\/pre_deploy was still running after 500ms \(pipeline\/hooks\/timeout\) and was stopped$/,
  );
  const child = Number(readFileSync(join(dir, "child"), "utf8"));
  await Bun.sleep(100);
  expect(isAlive(child)).toBe(false);
});

test("what a hook leaves running in the background is stopped when it exits, and does not hold the deploy", async () => {
  // the background sleep holds the hook's output open: without the stop the hook would wait
  // for it (60 s, past the test's timeout)
  const { dir, done } = hooked("sleep 60 & echo $! > child; echo started it");
  await done;
  const child = Number(readFileSync(join(dir, "child"), "utf8"));
  await Bun.sleep(100);
  expect(isAlive(child)).toBe(false);
});
