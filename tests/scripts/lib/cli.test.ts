import { expect, test } from "bun:test";
import { resolve } from "node:path";
import { ArgumentError, helpOf, parseVerbArgs, type VerbSpec } from "../../../scripts/lib/cli.ts";

const SPEC = {
  verb: "logs",
  usage: ["logs [ROLE|HOST] [-f] [--since 10m]"],
  about: "The logs.",
  options: {
    follow: { type: "boolean", short: "f", description: "keep printing" },
    since: { type: "string", value: "DURATION", description: "this last stretch" },
  },
  env: ["REDIS_URL"],
  positionals: 1,
} satisfies VerbSpec;

test("options, positionals and the words after -- come apart", () => {
  expect(parseVerbArgs(SPEC, ["production", "-f", "--since", "10m"])).toEqual({
    values: { follow: true, since: "10m" },
    positionals: ["production"],
    rest: [],
  });
  expect(parseVerbArgs({ ...SPEC, options: {} }, ["web-1", "--", "ls", "-la"])).toEqual({
    values: {},
    positionals: ["web-1"],
    rest: ["ls", "-la"],
  });
});

test("a command line of the wrong shape is an ArgumentError saying what is wrong", () => {
  expect(() => parseVerbArgs(SPEC, ["--bogus"])).toThrow(
    new ArgumentError("Unknown option '--bogus'"),
  );
  expect(() => parseVerbArgs(SPEC, ["a", "b"])).toThrow(new ArgumentError("unexpected b"));
  expect(() => parseVerbArgs(SPEC, ["--since"])).toThrow(ArgumentError);
});

test("--help lists the usage, the options and the variables read, described once", () => {
  expect(helpOf(SPEC)).toBe(
    [
      "Usage: bun run logs [ROLE|HOST] [-f] [--since 10m]",
      "",
      "The logs.",
      "",
      "Options:",
      "  -f, --follow          keep printing",
      "      --since DURATION  this last stretch",
      "  -h, --help            this text",
      "",
      "Reads, from the environment or .env:",
      "  REDIS_URL  the fleet's Redis, like redis://:password@10.0.0.2:6379/0",
    ].join("\n"),
  );
});

test("a usage error exits 2 with the usage; a failure exits 1 with one line", () => {
  const run = (...args: string[]) =>
    Bun.spawnSync(
      [process.execPath, resolve(import.meta.dir, "../../../scripts/status.ts"), ...args],
      {
        env: { PATH: process.env.PATH, HOME: "/nonexistent" },
        cwd: "/",
        stderr: "pipe",
      },
    );
  const usage = run("extra");
  expect(usage.exitCode).toBe(2);
  expect(usage.stderr.toString()).toBe(
    "dropship status: unexpected extra\nusage: bun run status\n",
  );
  const failure = run();
  expect(failure.exitCode).toBe(1);
  expect(failure.stderr.toString()).toBe(
    "dropship status: REDIS_URL is not set — put redis://:password@host:6379/0 in the environment or .env\n",
  );
});
