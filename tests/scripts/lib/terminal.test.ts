import { expect, test } from "bun:test";
import { ArgumentError } from "../../../scripts/lib/cli.ts";
import { execMode } from "../../../scripts/lib/terminal.ts";

test("exec: a command streams its output; -i puts it on a terminal; none at all is a shell", () => {
  expect(execMode("uptime", false, false)).toEqual({ terminal: false });
  expect(execMode("uptime", false, true)).toEqual({ terminal: false });
  expect(execMode("bun repl", true, true)).toEqual({ terminal: true, command: "bun repl" });
  expect(execMode("", false, true)).toEqual({ terminal: true, command: undefined });
  expect(execMode("  ", true, true)).toEqual({ terminal: true, command: undefined });
});

test("exec: a terminal on the host needs one here, and says so", () => {
  expect(() => execMode("", false, false)).toThrow(ArgumentError);
  expect(() => execMode("", false, false)).toThrow(
    "no command after --, and a shell needs a terminal, which this command's input is not",
  );
  expect(() => execMode("bun repl", true, false)).toThrow(
    "-i runs the command on a terminal, and this command's input is not one: leave -i out",
  );
});
