import { expect, test } from "bun:test";
import { startFailure } from "../../../../server/shared/host/start-failure.ts";

// outputs of hostCommands.startState, in the shape a systemd droplet prints them: the unit's
// state, then its journal as JSON, each entry with the attempt (invocation) it belongs to

/** a journal entry as `journalctl -o json` prints it: systemd's own or the process's output */
const entry = (attempt: string, message: string, from: "systemd" | "process" = "systemd") =>
  JSON.stringify({
    __CURSOR: `s=1;i=${attempt}`,
    MESSAGE: message,
    ...(from === "systemd" ? { INVOCATION_ID: attempt, _PID: "1" } : {}),
    ...(from === "process" ? { _SYSTEMD_INVOCATION_ID: attempt, _PID: "80" } : {}),
  });
const startState = (state: string, entries: string[]) => `${state}\n--\n${entries.join("\n")}\n`;

// an app that exits at start; the last attempt has begun and printed nothing yet
const crashing = startState("NRestarts=3\nActiveState=activating", [
  entry("a0", "Started dropship-app.service - dropship app."),
  entry(
    "a0",
    "dropship-app 1f2e3d4c5b6a (production) listening on http://10.78.0.14:3000",
    "process",
  ),
  entry("a0", "Stopped dropship-app.service - dropship app."),
  entry("a1", "Started dropship-app.service - dropship app."),
  entry("a1", "error: REDIS_URL is not a redis:// URL — set it in the app's settings", "process"),
  entry("a1", "dropship-app.service: Main process exited, code=exited, status=3/NOTIMPLEMENTED"),
  entry(
    "a1",
    "dropship-app.service: Failed to kill control group /system.slice/dropship-app.service, ignoring: Input/output error",
  ),
  entry("a1", "dropship-app.service: Failed with result 'exit-code'."),
  entry("a1", "dropship-app.service: Scheduled restart job, restart counter is at 3."),
  entry("a1", "Stopped dropship-app.service - dropship app."),
  entry("a2", "Started dropship-app.service - dropship app."),
]);

/** what the forked child says of an attempt whose binary cannot be run (chmod -x) */
const cannotRun = (attempt: string) => [
  entry(
    attempt,
    "dropship-zz.service: Failed to locate executable /srv/x: Permission denied",
    "process",
  ),
  entry(
    attempt,
    "dropship-zz.service: Failed at step EXEC spawning /srv/x: Permission denied",
    "process",
  ),
];

// a binary that cannot be run (as seen on a droplet: chmod -x), sampled while systemd had it
// "active" for a moment between two attempts
const unrunnable = startState("NRestarts=3\nActiveState=active", [
  entry("z2", "Stopped dropship-zz.service."),
  entry("z3", "Started dropship-zz.service."),
  ...cannotRun("z3"),
  entry("z3", "dropship-zz.service: Main process exited, code=exited, status=203/EXEC"),
  entry("z3", "dropship-zz.service: Failed with result 'exit-code'."),
  entry("z3", "dropship-zz.service: Scheduled restart job, restart counter is at 3."),
  entry("z3", "Stopped dropship-zz.service."),
  entry("z4", "Started dropship-zz.service."),
]);

test("a service that keeps exiting is named with how its last attempt ended and what it said", () => {
  expect(startFailure("app", crashing)).toBe(
    "dropship-app keeps exiting (code=exited, status=3/NOTIMPLEMENTED; restarted 3 times): error: REDIS_URL is not a redis:// URL — set it in the app's settings (bun run logs shows more)",
  );
  expect(startFailure("zz", unrunnable)).toBe(
    "dropship-zz keeps exiting (code=exited, status=203/EXEC; restarted 3 times): dropship-zz.service: Failed to locate executable /srv/x: Permission denied / dropship-zz.service: Failed at step EXEC spawning /srv/x: Permission denied (bun run logs shows more)",
  );
});

test("one that systemd gave up on counts whatever its restarts; the lines of the release before are not its", () => {
  const gaveUp = startState("NRestarts=1\nActiveState=failed", [
    entry("m0", "Started dropship-monitor.service - dropship monitor."),
    entry("m0", "dropship-monitor: an old release's line", "process"),
    entry("m0", "Stopped dropship-monitor.service - dropship monitor."),
    entry("m1", "Started dropship-monitor.service - dropship monitor."),
    entry("m1", "dropship-monitor.service: Main process exited, code=killed, status=9/KILL"),
    entry("m1", "Stopped dropship-monitor.service - dropship monitor."),
    entry("m2", "Started dropship-monitor.service - dropship monitor."),
    entry("m2", "dropship-monitor.service: Main process exited, code=killed, status=9/KILL"),
    entry("m2", "dropship-monitor.service: Start request repeated too quickly."),
    entry("m2", "dropship-monitor.service: Failed with result 'signal'."),
    entry("m2", "Failed to start dropship-monitor.service - dropship monitor."),
  ]);
  expect(startFailure("monitor", gaveUp)).toBe(
    "dropship-monitor keeps exiting (code=killed, status=9/KILL; restarted 1 time): it printed nothing (bun run logs shows more)",
  );
});

test("a service still starting, one restarted once or twice, and a host without systemd are not failures", () => {
  expect(startFailure("app", crashing.replace("NRestarts=3", "NRestarts=2"))).toBeUndefined();
  expect(
    startFailure(
      "app",
      startState("NRestarts=0\nActiveState=active", [entry("b1", "Started dropship-app.service.")]),
    ),
  ).toBeUndefined();
  expect(startFailure("app", "")).toBeUndefined();
});

test("lines are counted to their attempt however the journal ordered them", () => {
  // CI once saw an attempt's "Failed at step EXEC" lines counted to another attempt when
  // attempts were told apart by systemd's "Started": here they reach the journal before it, and
  // an app's last words after systemd's line that it had exited
  const passing = startState("NRestarts=3\nActiveState=activating", [
    entry("z2", "dropship-zz.service: Main process exited, code=exited, status=203/EXEC"),
    entry("z2", "Stopped dropship-zz.service."),
    ...cannotRun("z3"),
    entry("z3", "Started dropship-zz.service."),
    entry("z3", "dropship-zz.service: Main process exited, code=exited, status=203/EXEC"),
    entry("z4", "Started dropship-zz.service."),
  ]);
  expect(startFailure("zz", passing)).toBe(
    "dropship-zz keeps exiting (code=exited, status=203/EXEC; restarted 3 times): dropship-zz.service: Failed to locate executable /srv/x: Permission denied / dropship-zz.service: Failed at step EXEC spawning /srv/x: Permission denied (bun run logs shows more)",
  );
  const lastWordsLate = startState("NRestarts=3\nActiveState=activating", [
    entry("a3", "Started dropship-app.service."),
    entry("a3", "dropship-app.service: Main process exited, code=exited, status=1/FAILURE"),
    entry("a3", "error: cannot listen on :3000", "process"),
    entry("a4", "Started dropship-app.service."),
  ]);
  expect(startFailure("app", lastWordsLate)).toBe(
    "dropship-app keeps exiting (code=exited, status=1/FAILURE; restarted 3 times): error: cannot listen on :3000 (bun run logs shows more)",
  );
});

test("when the last attempt's words are not in the journal yet, the attempt before it is quoted", () => {
  // CI saw "it printed nothing" for a binary that cannot be run: systemd's line that the
  // attempt exited was read before the child's lines saying why reached the journal
  const laggingJournal = startState("NRestarts=3\nActiveState=activating", [
    entry("z1", "Started dropship-zz.service."),
    ...cannotRun("z1"),
    entry("z1", "dropship-zz.service: Main process exited, code=exited, status=203/EXEC"),
    entry("z2", "Started dropship-zz.service."),
    ...cannotRun("z2"),
    entry("z2", "dropship-zz.service: Main process exited, code=exited, status=203/EXEC"),
    entry("z3", "Started dropship-zz.service."),
    entry("z3", "dropship-zz.service: Main process exited, code=exited, status=1/FAILURE"),
    entry("z4", "Started dropship-zz.service."),
  ]);
  expect(startFailure("zz", laggingJournal)).toBe(
    "dropship-zz keeps exiting (code=exited, status=1/FAILURE; restarted 3 times): dropship-zz.service: Failed to locate executable /srv/x: Permission denied / dropship-zz.service: Failed at step EXEC spawning /srv/x: Permission denied (bun run logs shows more)",
  );
});

test("a message journalctl writes as bytes is read as text; lines that are not entries are skipped", () => {
  const bytes = [...Buffer.from("error: caf\u00e9 \u001b[31mred\u001b[0m")];
  const output = startState("NRestarts=3\nActiveState=activating", [
    "Warning: journal has been rotated since unit was started",
    entry("a1", "Started dropship-app.service."),
    JSON.stringify({ MESSAGE: bytes, _SYSTEMD_INVOCATION_ID: "a1" }),
    JSON.stringify({ MESSAGE: "no attempt: not the unit's" }),
    entry("a1", "dropship-app.service: Main process exited, code=exited, status=1/FAILURE"),
  ]);
  expect(startFailure("app", output)).toBe(
    "dropship-app keeps exiting (code=exited, status=1/FAILURE; restarted 3 times): error: caf\u00e9 \u001b[31mred\u001b[0m (bun run logs shows more)",
  );
});

test("what it said is redacted of the secrets this process knows", () => {
  const before = process.env.DROPSHIP_ADMIN_TOKEN;
  process.env.DROPSHIP_ADMIN_TOKEN = "admin-token-hunter2-0123456789";
  try {
    const said = crashing.replace(
      "error: REDIS_URL is not a redis:// URL",
      "error: cannot log in with admin-token-hunter2-0123456789",
    );
    const reason = startFailure("app", said) as string;
    expect(reason).toContain("error: cannot log in with <DROPSHIP_ADMIN_TOKEN>");
    expect(reason).not.toContain("hunter2");
  } finally {
    if (before === undefined) delete process.env.DROPSHIP_ADMIN_TOKEN;
    else process.env.DROPSHIP_ADMIN_TOKEN = before;
  }
});
