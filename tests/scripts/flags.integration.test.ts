import { expect, test } from "bun:test";
import { resolve } from "node:path";
import { startRedis } from "../helpers/redis.ts";

const ROOT = resolve(import.meta.dir, "../..");
const redis = await startRedis();

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
    [["frob"], "dropship flags: unknown command frob — use list, set or history\n"],
  ];
  for (const [args, message] of usage) {
    const result = flags(args);
    expect(result.code).toBe(2);
    expect(result.err).toStartWith(message);
    expect(result.err).toContain("usage: bun run flags set NAME on|off [--rollout N] [--create]\n");
  }
  expect(flags(["history"]).out).toBe(before);
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
