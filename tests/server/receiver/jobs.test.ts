import { expect, test } from "bun:test";
import type { Job, JobRun } from "../../../pipeline/jobs.ts";
import { startJobSchedule } from "../../../server/receiver/jobs.ts";
import type { Mail } from "../../../server/shared/mailer.ts";

const job = (name: string, schedule: string): Job => ({
  name,
  schedule,
  time_zone: "UTC",
  command: "true",
  role: "production",
  timeout: 60_000,
});

/** A schedule on a clock of the test's, whose runs the test finishes when it likes. */
function harness(jobs: Job[], last: Map<string, JobRun> = new Map()) {
  let clock = Date.parse("2026-12-05T17:38:30Z");
  const said: string[] = [];
  const mails: Mail[] = [];
  const saved: JobRun[] = [];
  const started: { job: string; finish: (run: Partial<JobRun> | Error) => void }[] = [];
  const schedule = startJobSchedule(
    {
      jobs,
      run: (j) => {
        if (j.name === "throws") throw new Error("no hosts yet: bun run setup makes them");
        return new Promise<JobRun>((resolve, reject) => {
          started.push({
            job: j.name,
            finish: (outcome) =>
              outcome instanceof Error
                ? reject(outcome)
                : resolve({
                    job: j.name,
                    host: "web-1",
                    release: "abc123def456",
                    startedAt: clock,
                    ms: 100,
                    code: 0,
                    tail: [],
                    by: "dropship-receiver (schedule)",
                    ...outcome,
                  }),
          });
        });
      },
      lastRuns: async () => last,
      save: async (run) => {
        if (run.job === "unsaved") throw new Error("Redis is down");
        saved.push(run);
      },
      site: "shop",
      say: (line) => said.push(line),
      notify: (mail) => mails.push(mail),
      now: () => clock,
    },
    3_600_000, // the test looks itself
  );
  const settle = () => Bun.sleep(5);
  return {
    schedule,
    said,
    mails,
    saved,
    started,
    settle,
    /** Moves the clock, looks, and lets the runs due start. */
    at: async (iso: string) => {
      clock = Date.parse(iso);
      schedule.tick();
      await settle();
    },
  };
}

test("a job runs once at each minute of its schedule, and its run is said and kept", async () => {
  const h = harness([job("every-minute", "* * * * *"), job("daily", "@daily")]);
  await h.at("2026-12-05T17:38:59Z");
  expect(h.started).toEqual([]);
  await h.at("2026-12-05T17:39:00.200Z");
  expect(h.started.map((s) => s.job)).toEqual(["every-minute"]);
  await h.at("2026-12-05T17:39:01Z");
  expect(h.started.length).toBe(1);
  h.started[0]?.finish({ tail: ["ok"] });
  await h.settle();
  expect(h.said).toEqual([
    "job every-minute: due (* * * * *), starting",
    "job every-minute on web-1 (abc123def456): ok in 0.1 s",
  ]);
  expect(h.saved.map((r) => [r.job, r.code])).toEqual([["every-minute", 0]]);
  expect(h.mails).toEqual([]);
  await h.at("2026-12-05T17:40:00.100Z");
  expect(h.started.map((s) => s.job)).toEqual(["every-minute", "every-minute"]);
  h.started[1]?.finish({});
  await h.schedule.stop();
});

test("a job still running when due again is not started twice; the others go on", async () => {
  const h = harness([job("slow", "* * * * *"), job("quick", "*/2 * * * *")]);
  await h.at("2026-12-05T17:40:00Z");
  expect(h.started.map((s) => s.job)).toEqual(["slow", "quick"]);
  h.started[1]?.finish({});
  await h.settle();
  await h.at("2026-12-05T17:41:00Z");
  expect(h.started.map((s) => s.job)).toEqual(["slow", "quick"]);
  expect(h.said).toContain("job slow: due again while its last run goes on; this one is skipped");
  await h.at("2026-12-05T17:42:00Z");
  expect(h.started.map((s) => s.job)).toEqual(["slow", "quick", "quick"]);
  // once it ends, the next minute starts it again
  h.started[0]?.finish({});
  h.started[2]?.finish({});
  await h.settle();
  await h.at("2026-12-05T17:43:00Z");
  expect(h.started.map((s) => s.job)).toEqual(["slow", "quick", "quick", "slow"]);
  // stop waits for the run under way
  let stopped = false;
  const stopping = h.schedule.stop().then(() => {
    stopped = true;
  });
  await h.settle();
  expect(stopped).toBe(false);
  h.started[3]?.finish({});
  await stopping;
  expect(stopped).toBe(true);
  await h.at("2026-12-05T17:44:00Z");
  expect(h.started.length).toBe(4);
});

test("jobs replaced while one runs: the new list from the next minute on, the run under way to its end and not doubled", async () => {
  const h = harness([job("report", "* * * * *"), job("old", "* * * * *")]);
  await h.at("2026-12-05T17:40:00Z");
  expect(h.started.map((s) => s.job)).toEqual(["report", "old"]);
  h.started[1]?.finish({});
  await h.settle();
  // report changed to every other minute while it runs; old removed; new added
  h.schedule.replace([job("report", "*/2 * * * *"), job("new", "* * * * *")]);
  await h.at("2026-12-05T17:41:00Z");
  expect(h.started.map((s) => s.job)).toEqual(["report", "old", "new"]);
  h.started[2]?.finish({});
  await h.settle();
  await h.at("2026-12-05T17:42:00Z");
  // report's run from 17:40 goes on: due again, not started beside it
  expect(h.started.map((s) => s.job)).toEqual(["report", "old", "new", "new"]);
  expect(h.said).toContain("job report: due again while its last run goes on; this one is skipped");
  h.started[0]?.finish({});
  await h.settle();
  // its run ended as it was; the changed schedule: not at 17:43, at 17:44
  expect(h.saved.map((r) => r.job)).toEqual(["old", "new", "report"]);
  await h.at("2026-12-05T17:43:00Z");
  expect(h.started.filter((s) => s.job === "report")).toHaveLength(1);
  await h.at("2026-12-05T17:44:00Z");
  expect(h.started.filter((s) => s.job === "report")).toHaveLength(2);
  for (const run of h.started.slice(3)) run.finish({});
  await h.schedule.stop();
});

test("a receiver told to stop waits for a run only so long, and says what it left", async () => {
  const h = harness([job("long", "* * * * *")]);
  await h.at("2026-12-05T17:39:00Z");
  expect(h.started.length).toBe(1);
  // the run never ends before stop returns: a stop that waited for it would not return
  await h.schedule.stop(50);
  expect(h.said.at(-1)).toBe(
    "jobs: stopping with long still running on its host; its output from now on is lost, and it is not recorded",
  );
  h.started[0]?.finish({});
});

test("one mail when a job starts failing, none while it goes on failing, one when it works again", async () => {
  const h = harness([job("report", "* * * * *")]);
  const minute = async (iso: string, outcome: Partial<JobRun> | Error) => {
    await h.at(iso);
    h.started.at(-1)?.finish(outcome);
    await h.settle();
  };
  await minute("2026-12-05T17:39:00Z", { code: 3, fault: "exit 3", tail: ["boom"] });
  await minute("2026-12-05T17:40:00Z", { code: 3, fault: "exit 3" });
  // a run that could not even start (no hosts, say) is a failure too
  await minute("2026-12-05T17:41:00Z", new Error("no hosts yet: bun run setup makes them"));
  expect(h.mails.map((m) => m.subject)).toEqual(["[shop] job report failed"]);
  expect(h.mails[0]?.text).toContain("  boom\n");
  expect(h.saved.at(-1)).toMatchObject({
    code: -1,
    fault: "no hosts yet: bun run setup makes them",
  });
  expect(h.said).toContain("job report: not run — no hosts yet: bun run setup makes them");
  await minute("2026-12-05T17:42:00Z", {});
  await minute("2026-12-05T17:43:00Z", {});
  expect(h.mails.map((m) => m.subject)).toEqual([
    "[shop] job report failed",
    "[shop] job report works again",
  ]);
  await h.schedule.stop();
});

test("a job that failed before the receiver started is not mailed again; a run not kept is said", async () => {
  const failedBefore: JobRun = {
    job: "report",
    host: "web-1",
    release: "abc",
    startedAt: 0,
    ms: 1,
    code: 1,
    fault: "exit 1",
    tail: [],
    by: "dropship-receiver (schedule)",
  };
  const h = harness(
    [job("report", "* * * * *"), job("unsaved", "* * * * *")],
    new Map([["report", failedBefore]]),
  );
  await h.at("2026-12-05T17:39:00Z");
  for (const s of h.started) s.finish({ code: 1, fault: "exit 1" });
  await h.settle();
  expect(h.mails.map((m) => m.subject)).toEqual(["[shop] job unsaved failed"]);
  expect(h.said).toContain("job unsaved: its run was not recorded (Redis is down)");
  await h.schedule.stop();
});

test("a runner that throws at once is a failed run, said, kept and mailed; the schedule goes on", async () => {
  const h = harness([job("throws", "* * * * *")]);
  await h.at("2026-12-05T17:39:00Z");
  expect(h.said).toContain("job throws: not run — no hosts yet: bun run setup makes them");
  expect(h.saved.map((r) => [r.job, r.code])).toEqual([["throws", -1]]);
  expect(h.mails.map((m) => m.subject)).toEqual(["[shop] job throws failed"]);
  await h.at("2026-12-05T17:40:00Z");
  expect(h.saved.length).toBe(2);
  await h.schedule.stop();
});
