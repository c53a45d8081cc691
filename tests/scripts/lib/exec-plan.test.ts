import { expect, test } from "bun:test";
import { ArgumentError } from "../../../scripts/lib/cli.ts";
import { execPlan } from "../../../scripts/lib/exec-plan.ts";
import { asApp } from "../../../server/shared/host/as-app.ts";

const root = { interactive: false, app: false };
const ON_TERMINAL = " (on a terminal: what is typed there is not recorded)";

test("exec: a command streams its output; -i puts it on a terminal; none at all is a shell", () => {
  expect(execPlan("uptime", root, false)).toEqual({
    remote: "uptime",
    terminal: false,
    audited: "uptime",
  });
  expect(execPlan("uptime", root, true).terminal).toBe(false);
  expect(execPlan("top", { interactive: true, app: false }, true)).toEqual({
    remote: "top",
    terminal: true,
    audited: `top${ON_TERMINAL}`,
  });
  expect(execPlan("", root, true)).toEqual({
    remote: undefined,
    terminal: true,
    audited: `a shell${ON_TERMINAL}`,
  });
});

test("exec --app: the command as the app runs, on a terminal of its own when it has one", () => {
  const app = { interactive: false, app: true };
  expect(execPlan("bun run migrate", app, false)).toEqual({
    remote: asApp("bun run migrate"),
    terminal: false,
    audited: "as the app: bun run migrate",
  });
  const console = execPlan("bun repl", { interactive: true, app: true }, true);
  expect(console.remote).toBe(asApp("bun repl", { pty: true }));
  expect(console.remote).toContain(" --pty ");
  expect(execPlan("", app, true)).toEqual({
    remote: asApp("bash", { pty: true }),
    terminal: true,
    audited: `as the app: a shell${ON_TERMINAL}`,
  });
});

test("exec: a terminal on the host needs one here, and says so", () => {
  expect(() => execPlan("", root, false)).toThrow(ArgumentError);
  expect(() => execPlan("", { interactive: false, app: true }, false)).toThrow(
    "no command after --, and a shell needs a terminal, which this command's input is not",
  );
  expect(() => execPlan("bun repl", { interactive: true, app: false }, false)).toThrow(
    "-i runs the command on a terminal, and this command's input is not one: leave -i out",
  );
});
