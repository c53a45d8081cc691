import { expect, test } from "bun:test";
import { resolve } from "node:path";
import { connectTo, startRedis } from "../helpers/redis.ts";

const ROOT = resolve(import.meta.dir, "../..");
const redis = await startRedis();
const state = await connectTo(redis);

function flags(args: string[], env: Record<string, string> = { REDIS_URL: redis.url }) {
  const proc = Bun.spawnSync([process.execPath, resolve(ROOT, "scripts/flags.ts"), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", DROPSHIP_ACTOR: "ann@laptop", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: proc.exitCode, out: proc.stdout.toString(), err: proc.stderr.toString() };
}

test("list shows the built-in flag before anyone set it", () => {
  const { code, out } = flags(["list"]);
  expect(code).toBe(0);
  expect(out).toMatch(/disableSET\s+off \(never set\)/);
});

test("set changes a flag and says from what to what; history shows who did it", () => {
  expect(flags(["set", "disableSET", "on"]).out.trim()).toBe("disableSET: new → on");
  expect(flags(["set", "disableSET", "on", "--rollout", "25"]).out.trim()).toBe(
    "disableSET: on → on for 25%",
  );
  expect(flags(["list"]).out).toMatch(/disableSET\s+on for 25%\s+\S+\s+ann@laptop/);
  const history = flags(["history", "disableSET"]);
  expect(history.code).toBe(0);
  const lines = history.out.trim().split("\n");
  expect(lines).toHaveLength(3);
  expect(lines[1]).toMatch(/disableSET\s+on\s+on for 25%\s+ann@laptop$/);
  expect(lines[2]).toMatch(/disableSET\s+new\s+on\s+ann@laptop$/);
});

test("a new flag needs --create; an unknown one suggests the closest", () => {
  const unknown = flags(["set", "disableSEt", "off"]);
  expect(unknown.code).toBe(1);
  expect(unknown.err.trim()).toBe(
    "dropship flags: unknown flag disableSEt — did you mean disableSET? (--create makes a new one)",
  );
  expect(flags(["set", "checkout.v2", "on", "--rollout", "10", "--create"]).code).toBe(0);
  expect(flags(["set", "checkout.v2", "off"]).out.trim()).toBe("checkout.v2: on for 10% → off");
});

test("each bad value is refused with a sentence and changes nothing", () => {
  const before = flags(["history"]).out;
  const cases: [string[], string][] = [
    [["set", "disableSET", "maybe"], 'state "maybe" is not valid — say on or off\n'],
    [
      ["set", "disableSET", "20%"],
      'state "20%" is not valid — say on or off (on for 20% of clients: bun run flags set disableSET on --rollout 20)',
    ],
    [["set", "disableSET", "on", "--rollout", "130"], 'rollout "130" is not valid'],
    [["set", "disableSET", "on", "--rollout", "ten"], 'rollout "ten" is not valid'],
    [["set", "9bad", "on", "--create"], 'flag name "9bad" is not valid'],
    [["history", "nosuch"], "unknown flag nosuch"],
  ];
  for (const [args, message] of cases) {
    const result = flags(args);
    expect(result.code).toBe(1);
    expect(result.err).toContain(message);
  }
  // a command line of the wrong shape is a usage error: exit 2, with the usage
  const usage: [string[], string][] = [
    [["set", "disableSET"], "dropship flags: set needs NAME and on|off\n"],
    [["set", "disableSET", "on", "--force"], "dropship flags: Unknown option '--force'\n"],
    [["frob"], "dropship flags: unknown command frob — use list, set, history or delete\n"],
  ];
  for (const [args, message] of usage) {
    const result = flags(args);
    expect(result.code).toBe(2);
    expect(result.err).toStartWith(message);
    expect(result.err).toContain("usage: bun run flags set NAME on|off [--rollout N] [--create]\n");
  }
  expect(flags(["history"]).out).toBe(before);
});

test("delete takes away a flag that is off; one that is on, the app's own or an unknown one stays, saying why", async () => {
  expect(flags(["set", "checkout.v3", "on", "--rollout", "30", "--create"]).code).toBe(0);
  const on = flags(["delete", "checkout.v3"]);
  expect(on).toMatchObject({
    code: 1,
    err: "dropship flags: checkout.v3 is on for 30%: deleting it would turn it off for them — set it off first (bun run flags set checkout.v3 off), then delete it\n",
  });
  const own = flags(["delete", "disableSET"]);
  expect(own.code).toBe(1);
  expect(own.err).toContain(
    "disableSET is the app's own flag (it reads it on every request) — set it off instead",
  );
  expect(flags(["delete", "checkout.v9"]).err).toContain(
    "unknown flag checkout.v9 — did you mean checkout.v2?",
  );
  expect(flags(["delete", "9bad"]).err).toContain('flag name "9bad" is not valid');
  expect(flags(["delete"]).code).toBe(2);
  expect(flags(["list"]).out).toMatch(/checkout\.v3\s+on for 30%/);

  expect(flags(["set", "checkout.v3", "off"]).code).toBe(0);
  expect(flags(["delete", "checkout.v3"])).toMatchObject({
    code: 0,
    out: "checkout.v3: off → deleted (its history stays: bun run flags history checkout.v3)\n",
  });
  expect(flags(["list"]).out).not.toContain("checkout.v3");
  expect(await state.hexists("dropship:flags", "checkout.v3")).toBe(0);
  // its history stays, with the deletion, as ann's
  const lines = flags(["history", "checkout.v3"]).out.trim().split("\n");
  expect(lines[1]).toMatch(/checkout\.v3\s+off\s+removed\s+ann@laptop$/);
  expect(lines).toHaveLength(4);
  // gone, it can be made again, from nothing
  expect(flags(["set", "checkout.v3", "on"]).err).toContain("unknown flag checkout.v3");
  expect(flags(["delete", "checkout.v3"]).err).toContain("unknown flag checkout.v3");
});

test("without Redis it says so in one line, password masked", () => {
  const missing = flags(["list"], {});
  expect(missing.code).toBe(1);
  expect(missing.err).toContain("REDIS_URL is not set");
  const down = flags(["list"], { REDIS_URL: "redis://:topsecretpw@127.0.0.1:1/0" });
  expect(down.code).toBe(1);
  expect(down.err).toContain("cannot reach Redis at redis://:****@127.0.0.1:1/0");
  expect(down.err).not.toContain("topsecretpw");
});
