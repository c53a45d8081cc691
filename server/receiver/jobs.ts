import { describeRun, dueJobs, type Job, type JobRun, jobMail } from "../../pipeline/jobs.ts";
import type { Mail } from "../shared/mailer.ts";

export interface JobScheduleDeps {
  /** the jobs at the start (replace() puts others in their place) */
  jobs: readonly Job[];
  /** runs one job once (pipeline/job-run.ts's runJob, over SSH); never throws for the run's faults */
  run: (job: Job) => Promise<JobRun>;
  /** each job's last run, read once at the start: a job failing before a restart is not mailed again */
  lastRuns: () => Promise<Map<string, JobRun>>;
  /** keeps a run as its job's last */
  save: (run: JobRun) => Promise<unknown>;
  /** the config's name, for the mails' subjects */
  site: string;
  say: (line: string) => void;
  notify?: (mail: Mail) => void;
  now?: () => number;
}

/**
 * The receiver's scheduled jobs: looked at every `tickMs`, each job that is due runs once on
 * one host of its role. A job still running when it is due again is not started a second
 * time (said, not queued); the others go on beside it. Mails once when a job starts failing
 * and once when it works again.
 */
export function startJobSchedule(deps: JobScheduleDeps, tickMs: number) {
  const now = deps.now ?? Date.now;
  let jobs = deps.jobs;
  let since = now();
  const running = new Map<string, Promise<void>>();
  const failing = new Map<string, boolean>();
  let stopped = false;
  const known = deps
    .lastRuns()
    .then((runs) => {
      for (const [name, run] of runs) failing.set(name, run.fault !== undefined);
    })
    .catch((error: Error) => deps.say(`jobs: the last runs could not be read (${error.message})`));

  const attempt = async (job: Job) => {
    await known;
    // a runner that throws before it returns a promise is a failed run too, not the receiver's end
    const run = await Promise.resolve()
      .then(() => deps.run(job))
      .catch(
        (error: Error): JobRun => ({
          job: job.name,
          host: "",
          release: "",
          startedAt: now(),
          ms: 0,
          code: -1,
          fault: error.message,
          tail: [],
          by: "dropship-receiver (schedule)",
        }),
      );
    deps.say(`job ${describeRun(run)}`);
    await deps.save(run).catch((error: Error) => {
      deps.say(`job ${job.name}: its run was not recorded (${error.message})`);
    });
    const mailed = jobMail(failing.get(job.name) ?? false, run, deps.site);
    failing.set(job.name, mailed.failing);
    if (mailed.mail) deps.notify?.(mailed.mail);
  };

  const tick = () => {
    if (stopped) return;
    const at = now();
    const due = dueJobs(jobs, since, at);
    since = at;
    for (const job of due) {
      if (running.has(job.name)) {
        deps.say(`job ${job.name}: due again while its last run goes on; this one is skipped`);
        continue;
      }
      deps.say(`job ${job.name}: due (${job.schedule}), starting`);
      running.set(
        job.name,
        attempt(job).finally(() => running.delete(job.name)),
      );
    }
  };
  const timer = setInterval(tick, tickMs);
  return {
    /** Looks now (for tests whose clock moves faster than the timer). */
    tick,
    /**
     * Runs these jobs from the next look on (the config changed). A run under way goes on to
     * its end, and a job of the same name is not started beside it.
     */
    replace: (next: readonly Job[]) => {
      jobs = next;
    },
    /**
     * Stops looking; the runs under way are waited for up to `graceMs` (a job may run for its
     * whole timeout, and a receiver told to stop should), then left: they are said.
     */
    stop: async (graceMs = 10_000) => {
      stopped = true;
      clearInterval(timer);
      let grace: Timer | undefined;
      const ended = await Promise.race([
        Promise.all(running.values()).then(() => true),
        new Promise<false>((resolve) => {
          grace = setTimeout(() => resolve(false), graceMs);
        }),
      ]);
      clearTimeout(grace);
      if (!ended)
        deps.say(
          `jobs: stopping with ${[...running.keys()].join(", ")} still running on its host; its output from now on is lost, and it is not recorded`,
        );
    },
  };
}
