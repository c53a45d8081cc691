import { expect, test } from "bun:test";
import { resolve } from "node:path";
import { startSteps } from "../../server/shared/routing/steps.ts";
import { recordAction } from "../../server/shared/state/audit.ts";
import { changeFlag } from "../../server/shared/state/flags.ts";
import { changeMaintenance } from "../../server/shared/state/maintenance.ts";
import {
  changeCanary,
  clearAlert,
  putBackend,
  raiseAlert,
  removeBackend,
} from "../../server/shared/state/routing.ts";
import { connectTo, startRedis } from "../helpers/redis.ts";

// bun run audit against a real redis-server, after changes made through the fleet's own
// functions and verbs: each kind read back in words, the filters, and bad input refused.
const ROOT = resolve(import.meta.dir, "../..");
const redis = await startRedis();
const state = await connectTo(redis);

function audit(args: string[]) {
  const proc = Bun.spawnSync([process.execPath, resolve(ROOT, "scripts/audit.ts"), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", REDIS_URL: redis.url },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: proc.exitCode, out: proc.stdout.toString(), err: proc.stderr.toString() };
}

/** The rows of the table, each as its columns after WHEN. */
const rows = (out: string) =>
  out
    .trim()
    .split("\n")
    .slice(1)
    .map((line) => line.split(/ {2,}/).slice(1));

test("with nothing recorded it says so", () => {
  expect(audit([])).toMatchObject({ code: 0, out: "no audit entries\n" });
});

test("every kind of change and action, newest first, in words, with who made it", async () => {
  await changeFlag(state, "disableSET", { enabled: true, rollout: 25 }, "ann@laptop", "create");
  await changeFlag(state, "disableSET", { enabled: false, rollout: 100 }, "bob@laptop", "update");
  await changeCanary(
    state,
    {
      state: "active",
      generation: "abc123",
      reason: "canary abc123 deployed",
      ...startSteps(
        {
          weight: 30,
          steps: [
            { weight: 10, for: 60_000 },
            { weight: 40, for: 60_000 },
          ],
        },
        Date.now(),
      ),
    },
    "dropship-receiver (ann)",
  );
  await changeCanary(
    state,
    { weight: 40, step: 1, stepState: "running" },
    "dropship-receiver (canary steps)",
  );
  await changeCanary(state, { state: "aborted", reason: "by bob@laptop" }, "bob@laptop");
  const url = "http://10.0.0.7:3000";
  await putBackend(
    state,
    { id: "10.0.0.7:3000", url, track: "production", draining: false },
    "setup",
  );
  await putBackend(
    state,
    { id: "10.0.0.7:3000", url, track: "production", draining: true },
    "deploy",
  );
  await removeBackend(state, "10.0.0.7:3000", "scale");
  const alert = {
    id: "cpu:web-1",
    source: "web-1",
    role: "production",
    summary: "CPU 91% > 50%",
    since: new Date().toISOString(),
    canary: false,
  };
  await raiseAlert(state, alert, "dropship-monitor@web-1");
  await clearAlert(state, "cpu:web-1", "dropship-monitor@web-1");
  await changeMaintenance(state, { on: true, message: "Back at 15:00" }, "ann@laptop");
  await recordAction(state, {
    kind: "exec",
    target: "web-1",
    actor: "ann@laptop",
    what: "uptime on web-1",
  });
  const all = audit([]);
  expect(all.code).toBe(0);
  expect(all.out.split("\n")[0]).toMatch(/^WHEN +KIND +TARGET +WHAT +BY$/);
  expect(rows(all.out)).toEqual([
    ["exec", "web-1", "uptime on web-1", "ann@laptop"],
    ["maintenance", "current", "on: Back at 15:00", "ann@laptop"],
    ["alert", "cpu:web-1", "cleared: CPU 91% > 50%", "dropship-monitor@web-1"],
    ["alert", "cpu:web-1", "raised: CPU 91% > 50%", "dropship-monitor@web-1"],
    ["backend", "10.0.0.7:3000", "removed (production)", "scale"],
    ["backend", "10.0.0.7:3000", "draining", "deploy"],
    ["backend", "10.0.0.7:3000", "added to production: http://10.0.0.7:3000", "setup"],
    ["canary", "current", "aborted (by bob@laptop)", "bob@laptop"],
    ["canary", "current", "weight 10% → 40%, step 2 of 2", "dropship-receiver (canary steps)"],
    ["canary", "current", "new canary abc123 at 10%", "dropship-receiver (ann)"],
    ["flag", "disableSET", "on for 25% → off", "bob@laptop"],
    ["flag", "disableSET", "new → on for 25%", "ann@laptop"],
  ]);
});

test("--kind, --target, --actor and --limit narrow it; each can be combined", () => {
  expect(rows(audit(["--kind", "canary"]).out).map((r) => r[2])).toEqual([
    "aborted (by bob@laptop)",
    "weight 10% → 40%, step 2 of 2",
    "new canary abc123 at 10%",
  ]);
  expect(rows(audit(["--actor", "bob"]).out).map((r) => r[0])).toEqual(["canary", "flag"]);
  expect(rows(audit(["--actor", "ann", "--kind", "flag"]).out)).toEqual([
    ["flag", "disableSET", "new → on for 25%", "ann@laptop"],
  ]);
  expect(rows(audit(["--target", "web-1"]).out).map((r) => r[0])).toEqual(["exec"]);
  expect(rows(audit(["--limit", "2"]).out).map((r) => r[0])).toEqual(["exec", "maintenance"]);
  expect(audit(["--kind", "flag", "--actor", "carol"]).out).toBe(
    "no audit entries with kind flag, actor carol\n",
  );
});

test("a bad limit, an unknown option or a stray word is refused with what to write", () => {
  for (const [args, message] of [
    [["--limit", "0"], "--limit 0 is not valid — give a whole number from 1 to 10000"],
    [["--limit", "many"], "--limit many is not valid"],
    [["--kinds", "flag"], "--kinds"],
    [["flags"], "flags"],
  ] as const) {
    const result = audit([...args]);
    expect(result.code).not.toBe(0);
    expect(result.err).toContain(message);
    expect(result.out).toBe("");
  }
});
