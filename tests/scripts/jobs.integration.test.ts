import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { saveRun } from "../../server/shared/state/jobs.ts";
import { connectTo, startRedis } from "../helpers/redis.ts";
import { fileTempDir } from "../helpers/tmp.ts";

// bun run jobs' list and show against a real redis-server, with runs kept as the receiver keeps
// them. (`jobs run`, which reaches hosts, is tested on droplets in push.integration.test.ts.)
const ROOT = resolve(import.meta.dir, "../..");
const redis = await startRedis();
const state = await connectTo(redis);
const dir = fileTempDir("dropship-jobs-cli-");
writeFileSync(
  join(dir, "dropship.yml"),
  `name: shop
jobs:
  - { name: report, schedule: "30 3 * * mon-fri", command: "./report --all", timeout: 90s }
  - { name: sweep, schedule: "@hourly", command: "true", role: staging }
  - { name: nightly, schedule: "30 2 * * *", time_zone: Europe/Berlin, command: "true" }
`,
);
const startedAt = Date.now() - 14 * 60_000;
// it worked a day before, then failed
await saveRun(state, {
  job: "report",
  host: "shop-production-1",
  release: "3f2a9c1d0b7e",
  startedAt: startedAt - 24 * 3_600_000,
  ms: 3900,
  code: 0,
  tail: [],
  by: "dropship-receiver (schedule)",
});
await saveRun(state, {
  job: "report",
  host: "shop-production-2",
  release: "3f2a9c1d0b7e",
  startedAt,
  ms: 4200,
  code: 4,
  fault: "exit 4",
  tail: ["reading 12 accounts", "account 7: no such table"],
  by: "dropship-receiver (schedule)",
});

function jobs(args: string[], withRedis = true) {
  const proc = Bun.spawnSync([process.execPath, resolve(ROOT, "scripts/jobs.ts"), ...args], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? "",
      DROPSHIP_CONFIG: join(dir, "dropship.yml"),
      ...(withRedis ? { REDIS_URL: redis.url } : {}),
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: proc.exitCode, out: proc.stdout.toString(), err: proc.stderr.toString() };
}

test("list: each job's role, schedule, next run and last run", () => {
  const listed = jobs([]);
  expect(listed.code).toBe(0);
  const lines = listed.out.trimEnd().split("\n");
  expect(lines[0]).toMatch(/^NAME +ROLE +SCHEDULE +NEXT \(UTC\) +LAST$/);
  expect(lines[1]).toMatch(
    /^report +production +30 3 \* \* mon-fri +\d{4}-\d\d-\d\d 03:30 +on shop-production-2 \(3f2a9c1d0b7e\): failed after 4\.2 s, exit 4, 1[45] min ago by dropship-receiver \(schedule\)$/,
  );
  expect(lines[2]).toMatch(/^sweep +staging +@hourly +\d{4}-\d\d-\d\d \d\d:00 +none yet$/);
  // a job on another clock says which; its next run is still shown in UTC
  expect(lines[3]).toMatch(
    /^nightly +production +30 2 \* \* \* Europe\/Berlin +\d{4}-\d\d-\d\d 0[01]:30 +none yet$/,
  );
  // without Redis it says what it cannot know
  expect(jobs([], false).out).toContain("(REDIS_URL is not set)");
});

test("show: one job, and the last lines its last run printed", () => {
  const shown = jobs(["show", "report"]);
  expect(shown.code).toBe(0);
  expect(shown.out).toMatch(
    new RegExp(
      `^report: \\./report --all\\n  on a production host at 30 3 \\* \\* mon-fri \\(UTC\\), next \\d{4}-\\d\\d-\\d\\dT03:30:00\\.000Z; stopped after 90s\\n  last run: on shop-production-2 \\(3f2a9c1d0b7e\\): failed after 4\\.2 s, exit 4, at ${new Date(startedAt).toISOString().replaceAll(".", "\\.")} by dropship-receiver \\(schedule\\)\\n  last worked: the run at ${new Date(startedAt - 24 * 3_600_000).toISOString().replaceAll(".", "\\.")} \\(24 h ago\\)\\n  its last lines:\\n    reading 12 accounts\\n    account 7: no such table\\n$`,
    ),
  );
  expect(jobs(["show", "sweep"]).out).toContain("\n  last run: none yet\n");
  // 03:30 there only on the night Berlin skips 02:00–03:00
  expect(jobs(["show", "nightly"]).out).toMatch(
    /^nightly: true\n {2}on a production host at 30 2 \* \* \* \(Europe\/Berlin\), next \d{4}-\d\d-\d\dT0[01]:30:00\.000Z \(\d{4}-\d\d-\d\d 0[23]:30 there\); stopped after 10m\n/,
  );
  expect(jobs(["show", "sweep"], false).out).toContain(
    "\n  last run: not known here (REDIS_URL is not set: the runs are kept in Redis)\n",
  );
});

test("a job the config does not have, or a command line of the wrong shape, is refused", () => {
  const unknown = jobs(["show", "nope"]);
  expect(unknown.code).toBe(1);
  expect(unknown.err).toEndWith(
    "dropship jobs: no job nope; the config's jobs are report, sweep, nightly\n",
  );
  const bare = jobs(["show"]);
  expect(bare.code).toBe(2);
  expect(bare.err).toStartWith("dropship jobs: name the job to show\nusage: bun run jobs [list]\n");
  expect(jobs(["list", "extra"]).code).toBe(2);
  expect(jobs(["show", "report", "--host", "web-1"]).code).toBe(2);
});
