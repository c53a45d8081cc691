import { expect, test } from "bun:test";
import type { FleetHost } from "../../pipeline/fleet.ts";
import {
  ago,
  describeJobs,
  describeRun,
  describeSchedules,
  dueJobs,
  type Job,
  type JobRun,
  jobCommand,
  jobHosts,
  jobMail,
  jobsChange,
  keepTail,
  nextRunOf,
  restingHosts,
  runFault,
  TAIL_LINES,
} from "../../pipeline/jobs.ts";
import { asApp } from "../../server/shared/host/as-app.ts";

const job = (name: string, schedule: string, more: Partial<Job> = {}): Job => ({
  name,
  schedule,
  time_zone: "UTC",
  command: "echo hi",
  role: "production",
  timeout: 600_000,
  ...more,
});
const at = (iso: string) => Date.parse(iso);
const host = (name: string, role: FleetHost["role"]): FleetHost => ({
  name,
  role,
  address: "10.0.0.1",
  hostPublicKey: "ssh-ed25519 AAAA",
});

test("a job is due once for the minutes of its schedule between two looks, however many", () => {
  const jobs = [job("every-minute", "* * * * *"), job("quarterly", "*/15 * * * *")];
  const names = (since: string, now: string) =>
    dueJobs(jobs, at(since), at(now)).map((j) => j.name);
  expect(names("2026-12-05T17:38:10Z", "2026-12-05T17:38:59.999Z")).toEqual([]);
  expect(names("2026-12-05T17:38:59Z", "2026-12-05T17:39:00Z")).toEqual(["every-minute"]);
  // the look right after has nothing new
  expect(names("2026-12-05T17:39:00Z", "2026-12-05T17:39:01Z")).toEqual([]);
  expect(names("2026-12-05T17:44:59Z", "2026-12-05T17:45:00.400Z")).toEqual([
    "every-minute",
    "quarterly",
  ]);
  // a receiver that slept through an hour runs each once, not once per minute missed
  expect(names("2026-12-05T17:00:30Z", "2026-12-05T18:00:30Z")).toEqual([
    "every-minute",
    "quarterly",
  ]);
  expect(nextRunOf(job("n", "30 3 * * *"), at("2026-12-05T17:38:00Z"))).toBe(
    at("2026-12-06T03:30:00Z"),
  );
});

test("a job with a time zone is due on its clock, once on the night the clock turns back", () => {
  const berlin = job("nightly", "30 2 * * *", { time_zone: "Europe/Berlin" });
  const due = (since: string, now: string) => dueJobs([berlin], at(since), at(now)).length;
  // 02:30 in Berlin's winter is 01:30 UTC, in its summer 00:30 UTC
  expect(due("2026-12-06T01:29:59Z", "2026-12-06T01:30:00Z")).toBe(1);
  expect(due("2026-12-06T02:29:59Z", "2026-12-06T02:30:00Z")).toBe(0);
  expect(due("2026-07-06T00:29:59Z", "2026-07-06T00:30:00Z")).toBe(1);
  // 2026-10-25: a receiver looking every second through the night runs it once
  let runs = 0;
  for (let t = at("2026-10-24T22:00:00Z"); t < at("2026-10-25T03:00:00Z"); t += 1000)
    runs += dueJobs([berlin], t, t + 1000).length;
  expect(runs).toBe(1);
});

test("a job's hosts are its role's, from one its name picks, the others after in turn", () => {
  const hosts = [
    host("web-2", "production"),
    host("proxy-1", "proxy"),
    host("web-1", "production"),
    host("web-3", "production"),
    host("canary-1", "staging"),
  ];
  const order = (name: string) => jobHosts(job(name, "@daily"), hosts).map((h) => h.name);
  const orders = ["a", "b", "c", "d", "e", "f", "g", "h"].map(order);
  for (const o of orders) {
    expect([...o].sort()).toEqual(["web-1", "web-2", "web-3"]);
    // in turn from the first: web-1, web-2, web-3 rotated
    const rotations = [
      ["web-1", "web-2", "web-3"],
      ["web-2", "web-3", "web-1"],
      ["web-3", "web-1", "web-2"],
    ];
    expect(rotations).toContainEqual(o);
  }
  // the same name, the same host; and the jobs of a fleet do not all land on one
  expect(order("a")).toEqual(order("a"));
  expect(new Set(orders.map((o) => o[0])).size).toBeGreaterThan(1);
  expect(jobHosts(job("s", "@daily", { role: "staging" }), hosts).map((h) => h.name)).toEqual([
    "canary-1",
  ]);
  expect(jobHosts(job("s", "@daily"), [host("proxy-1", "proxy")])).toEqual([]);
  // a host a person names
  expect(jobHosts(job("s", "@daily"), hosts, "web-3").map((h) => h.name)).toEqual(["web-3"]);
  expect(() => jobHosts(job("s", "@daily"), hosts, "canary-1")).toThrow(
    "canary-1 is a staging host, and s runs on production hosts: name one of web-1, web-2, web-3",
  );
  expect(() => jobHosts(job("s", "@daily"), hosts, "web-9")).toThrow(
    "no host web-9 in the fleet; s runs on production hosts: web-1, web-2, web-3",
  );
});

test("a host out of the rotation is tried last, still tried, and run on when a person names it", () => {
  const hosts = [
    host("web-1", "production"),
    host("web-2", "production"),
    host("web-3", "production"),
  ];
  for (const name of ["a", "b", "c", "d"]) {
    const inTurn = jobHosts(job(name, "@daily"), hosts).map((h) => h.name);
    const first = inTurn[0] as string;
    const resting = new Set([first]);
    expect(jobHosts(job(name, "@daily"), hosts, undefined, resting).map((h) => h.name)).toEqual([
      ...inTurn.slice(1),
      first,
    ]);
    // every host resting: the usual order, not none
    const all = new Set(inTurn);
    expect(jobHosts(job(name, "@daily"), hosts, undefined, all).map((h) => h.name)).toEqual(inTurn);
    expect(jobHosts(job(name, "@daily"), hosts, first, resting).map((h) => h.name)).toEqual([
      first,
    ]);
  }
});

test("the hosts out of the rotation: app hosts with no backend taking new requests", () => {
  const hostAt = (name: string, role: FleetHost["role"], address: string): FleetHost => ({
    ...host(name, role),
    address,
  });
  const hosts = [
    hostAt("web-1", "production", "10.0.0.5"),
    hostAt("web-2", "production", "10.0.0.6"),
    hostAt("web-3", "production", "10.0.0.7"),
    hostAt("canary-1", "staging", "10.0.0.8"),
    hostAt("proxy-1", "proxy", "10.0.0.2"),
    hostAt("web-6", "production", "fd00::6"),
  ];
  const backend = (url: string, draining = false) => ({ url, draining });
  expect(
    restingHosts(hosts, [
      backend("http://10.0.0.5:3000"),
      backend("http://10.0.0.6:3000", true), // drained by a person or a deploy
      // web-3 is in no backend at all (removed by hand)
      backend("http://10.0.0.8:3000"),
      backend("http://[fd00::6]:3000"),
      backend("not a url"),
    ]),
  ).toEqual(new Set(["web-2", "web-3"]));
  // a host with one backend draining and another serving is in the rotation
  expect(
    restingHosts(hosts.slice(0, 1), [
      backend("http://10.0.0.5:3000", true),
      backend("http://10.0.0.5:3001"),
    ]),
  ).toEqual(new Set());
});

test("the command on the host: the app's, as asApp runs it, named by DROPSHIP_JOB, stopped at its timeout", () => {
  const job = { name: "report", command: `echo "it's $DROPSHIP_JOB"; exit 3`, timeout: 90_500 };
  expect(jobCommand(job)).toBe(
    asApp(job.command, { env: { DROPSHIP_JOB: "report" }, timeoutMs: 90_500 }),
  );
  expect(jobCommand(job)).toContain(
    " -E 'DROPSHIP_JOB=report' -- /usr/bin/timeout --kill-after=10s 91s /bin/sh -c ",
  );
});

test("what an exit code says", () => {
  const j = { timeout: 600_000 };
  expect(runFault(j, 0)).toBeUndefined();
  expect(runFault(j, 3)).toBe("exit 3");
  expect(runFault(j, 124)).toBe("still running after 10m (its timeout), so it was stopped");
  expect(runFault(j, 137)).toBe("still running after 10m (its timeout), so it was stopped");
});

const run = (more: Partial<JobRun> = {}): JobRun => ({
  job: "report",
  host: "web-1",
  release: "abc123def456",
  startedAt: at("2026-12-05T03:30:00Z"),
  ms: 1234,
  code: 0,
  tail: ["done"],
  by: "dropship-receiver (schedule)",
  ...more,
});

test("a run in one line", () => {
  expect(describeRun(run())).toBe("report on web-1 (abc123def456): ok in 1.2 s");
  expect(describeRun(run({ code: 3, fault: "exit 3", ms: 65_000 }))).toBe(
    "report on web-1 (abc123def456): failed after 65s, exit 3",
  );
  expect(
    describeRun(
      run({
        host: "",
        release: "",
        code: -1,
        fault: "no production host could be reached — web-1: refused",
      }),
    ),
  ).toBe("report: not run — no production host could be reached — web-1: refused");
});

test("mail once when a job starts failing, once when it works again, never in between", () => {
  const failed = run({ code: 3, fault: "exit 3", tail: ["step 1", "boom"] });
  const first = jobMail(false, failed, "shop");
  expect(first.failing).toBe(true);
  expect(first.mail?.subject).toBe("[shop] job report failed");
  expect(first.mail?.text).toBe(
    "report on web-1 (abc123def456): failed after 1.2 s, exit 3.\n\nIts last lines:\n\n  step 1\n  boom\n\nThe schedule goes on: this is the only mail until a run works again. bun run jobs run report runs it now, with its output; bun run jobs shows each job's last run.\n",
  );
  expect(jobMail(true, failed, "shop")).toEqual({ failing: true });
  expect(jobMail(false, run({ code: 1, fault: "exit 1", tail: [] }), "shop").mail?.text).toContain(
    "\nIt printed nothing.\n",
  );
  expect(jobMail(true, run(), "shop")).toEqual({
    failing: false,
    mail: {
      subject: "[shop] job report works again",
      text: "report on web-1 (abc123def456): ok in 1.2 s.\n",
    },
  });
  expect(jobMail(false, run(), "shop")).toEqual({ failing: false });
});

test("a run keeps its newest lines, each of a readable length", () => {
  const tail: string[] = [];
  for (let i = 1; i <= TAIL_LINES + 5; i++) keepTail(tail, `line ${i}`);
  expect(tail.length).toBe(TAIL_LINES);
  expect(tail[0]).toBe("line 6");
  expect(tail.at(-1)).toBe(`line ${TAIL_LINES + 5}`);
  keepTail(tail, "x".repeat(2000));
  expect(tail.at(-1)).toBe(`${"x".repeat(500)}…`);
});

test("the status line: how each job's last run ended, and when", () => {
  const now = at("2026-12-05T18:00:00Z");
  const runs = new Map([
    ["report", run({ startedAt: now - 3 * 3_600_000 })],
    ["sweep", run({ job: "sweep", code: 4, fault: "exit 4", startedAt: now - 14 * 60_000 })],
  ]);
  expect(
    describeJobs(
      [job("report", "@daily"), job("sweep", "*/15 * * * *"), job("new", "@hourly")],
      runs,
      now,
    ),
  ).toBe("report ok 3 h ago, sweep failed (exit 4) 14 min ago, new not run yet");
  expect([20_000, 90_000, 119 * 60_000, 121 * 60_000, 3 * 86_400_000].map(ago)).toEqual([
    "just now",
    "2 min ago",
    "119 min ago",
    "2 h ago",
    "3 days ago",
  ]);
});

test("what an edited config changed in the jobs, by name; nothing for a file saved as it was", () => {
  const before = [job("report", "@daily"), job("sweep", "*/15 * * * *"), job("old", "@hourly")];
  expect(
    jobsChange(
      before,
      before.map((j) => ({ ...j })),
    ),
  ).toBeUndefined();
  expect(
    jobsChange(before, [
      job("report", "@daily", { time_zone: "Europe/Berlin" }),
      job("sweep", "*/15 * * * *"),
      job("new", "0 3 * * *"),
      job("newer", "0 4 * * *"),
    ]),
  ).toBe("added new, newer; changed report; removed old");
  expect(jobsChange(before, [before[1] as Job])).toBe("removed report, old");
  expect(jobsChange([], [job("report", "@daily")])).toBe("added report");
  expect(describeSchedules([job("report", "30 2 * * *", { time_zone: "Europe/Berlin" })])).toBe(
    "report 30 2 * * * (Europe/Berlin)",
  );
  expect(describeSchedules([])).toBe("none");
});
