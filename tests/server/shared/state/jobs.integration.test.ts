import { expect, test } from "bun:test";
import {
  type JobRun,
  lastRuns,
  parseJobRun,
  saveRun,
} from "../../../../server/shared/state/jobs.ts";
import { KEYS } from "../../../../server/shared/state/keys.ts";
import { connectTo, startRedis } from "../../../helpers/redis.ts";

const run = (more: Partial<JobRun> = {}): JobRun => ({
  job: "report",
  host: "web-1",
  release: "abc123def456",
  startedAt: Date.parse("2026-12-05T03:30:00Z"),
  ms: 1234,
  code: 0,
  tail: ["done"],
  by: "dropship-receiver (schedule)",
  ...more,
});

test("a run kept in Redis reads back as it was; anything else is not a run", () => {
  const failed = run({ code: 3, fault: "exit 3" });
  expect(parseJobRun(JSON.stringify(failed))).toEqual(failed);
  expect(parseJobRun(JSON.stringify(run()))).toEqual(run());
  // a newer writer's extra field is dropped
  expect(parseJobRun(JSON.stringify({ ...run(), extra: 1 }))).toEqual(run());
  expect(parseJobRun(JSON.stringify(run({ lastOkAt: 5 })))).toEqual(run({ lastOkAt: 5 }));
  for (const bad of [
    "not json",
    "null",
    "[]",
    JSON.stringify({ ...run(), code: "0" }),
    JSON.stringify({ ...run(), tail: "done" }),
    JSON.stringify({ ...run(), tail: [1] }),
    JSON.stringify({ ...run(), fault: 3 }),
    JSON.stringify({ ...run(), startedAt: null }),
    JSON.stringify({ ...run(), lastOkAt: "yesterday" }),
    JSON.stringify({ job: "report" }),
  ])
    expect(parseJobRun(bad)).toBeUndefined();
});

test("each job's last run, kept and read back from a real Redis; a record that is not one is left out", async () => {
  const redis = await startRedis();
  const state = await connectTo(redis);
  try {
    // when the job last worked goes on from run to run: a run that worked sets it, a failing
    // one keeps what the run before said
    const worked = await saveRun(state, run({ job: "report", code: 0, startedAt: 1_000 }));
    expect(worked.lastOkAt).toBe(1_000);
    await saveRun(state, run({ job: "sweep", code: 4, fault: "exit 4", tail: [] }));
    const failed = await saveRun(
      state,
      run({ job: "report", code: 1, fault: "exit 1", startedAt: 2_000, lastOkAt: 99 }),
    );
    expect(failed.lastOkAt).toBe(1_000);
    await state.hset(KEYS.jobs, "junk", "{not a run");
    const runs = await lastRuns(state);
    expect([...runs.keys()].sort()).toEqual(["report", "sweep"]);
    expect(runs.get("report")).toEqual(
      run({ job: "report", code: 1, fault: "exit 1", startedAt: 2_000, lastOkAt: 1_000 }),
    );
    // a job that never worked has no such time
    expect(runs.get("sweep")).toEqual(run({ job: "sweep", code: 4, fault: "exit 4", tail: [] }));
    await saveRun(state, run({ job: "sweep", code: 0, startedAt: 3_000 }));
    expect((await lastRuns(state)).get("sweep")?.lastOkAt).toBe(3_000);
  } finally {
    state.disconnect();
    await redis.stop();
  }
});
