import { expect, test } from "bun:test";
import { startFailure } from "../../../../server/shared/host/start-failure.ts";

// outputs of hostCommands.startState, in the shape a systemd droplet prints them

// an app that exits at start; the last attempt has begun and printed nothing yet
const crashing = `NRestarts=3
ActiveState=activating
--
Started dropship-app.service - dropship app.
dropship-app 1f2e3d4c5b6a (production) listening on http://10.78.0.14:3000 — flags loaded
Stopped dropship-app.service - dropship app.
Started dropship-app.service - dropship app.
error: REDIS_URL is not a redis:// URL — set it in the app's settings
dropship-app.service: Main process exited, code=exited, status=3/NOTIMPLEMENTED
dropship-app.service: Failed to kill control group /system.slice/dropship-app.service, ignoring: Input/output error
dropship-app.service: Failed with result 'exit-code'.
dropship-app.service: Scheduled restart job, restart counter is at 3.
Stopped dropship-app.service - dropship app.
Started dropship-app.service - dropship app.
`;

// a binary that cannot be run (as seen on a droplet: chmod -x), sampled while systemd had it
// "active" for a moment between two attempts
const unrunnable = `NRestarts=3
ActiveState=active
--
Stopped dropship-zz.service.
Started dropship-zz.service.
dropship-zz.service: Failed to locate executable /srv/x: Permission denied
dropship-zz.service: Failed at step EXEC spawning /srv/x: Permission denied
dropship-zz.service: Main process exited, code=exited, status=203/EXEC
dropship-zz.service: Failed with result 'exit-code'.
dropship-zz.service: Scheduled restart job, restart counter is at 3.
Stopped dropship-zz.service.
Started dropship-zz.service.
`;

test("a service that keeps exiting is named with how its last attempt ended and what it said", () => {
  expect(startFailure("app", crashing)).toBe(
    "dropship-app keeps exiting (code=exited, status=3/NOTIMPLEMENTED; restarted 3 times): error: REDIS_URL is not a redis:// URL — set it in the app's settings (bun run logs shows more)",
  );
  expect(startFailure("zz", unrunnable)).toBe(
    "dropship-zz keeps exiting (code=exited, status=203/EXEC; restarted 3 times): dropship-zz.service: Failed to locate executable /srv/x: Permission denied / dropship-zz.service: Failed at step EXEC spawning /srv/x: Permission denied (bun run logs shows more)",
  );
});

test("one that systemd gave up on counts whatever its restarts; the lines of the release before are not its", () => {
  const gaveUp = `NRestarts=1
ActiveState=failed
--
Started dropship-monitor.service - dropship monitor.
dropship-monitor: an old release's line
Stopped dropship-monitor.service - dropship monitor.
Started dropship-monitor.service - dropship monitor.
dropship-monitor.service: Main process exited, code=killed, status=9/KILL
Stopped dropship-monitor.service - dropship monitor.
Started dropship-monitor.service - dropship monitor.
dropship-monitor.service: Main process exited, code=killed, status=9/KILL
dropship-monitor.service: Start request repeated too quickly.
dropship-monitor.service: Failed with result 'signal'.
Failed to start dropship-monitor.service - dropship monitor.
`;
  expect(startFailure("monitor", gaveUp)).toBe(
    "dropship-monitor keeps exiting (code=killed, status=9/KILL; restarted 1 time): it printed nothing (bun run logs shows more)",
  );
});

test("a service still starting, one restarted once or twice, and a host without systemd are not failures", () => {
  expect(startFailure("app", crashing.replace("NRestarts=3", "NRestarts=2"))).toBeUndefined();
  expect(
    startFailure("app", "NRestarts=0\nActiveState=active\n--\nStarted dropship-app.service.\n"),
  ).toBeUndefined();
  expect(startFailure("app", "")).toBeUndefined();
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
