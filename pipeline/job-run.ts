import { appSettingsFile, readAppSettings } from "../server/shared/config/env-file.ts";
import { hostCommands } from "../server/shared/host/layout.ts";
import { maskValues, redact } from "../server/shared/secrets.ts";
import { Ssh, targetOf } from "../server/shared/ssh.ts";
import { appUser, redisPasswordFor } from "../server/shared/state/acl.ts";
import type { StateCommands } from "../server/shared/state/redis.ts";
import { listBackends } from "../server/shared/state/routing.ts";
import { lineSplitter } from "../server/shared/text/lines.ts";
import type { Fleet, FleetHost } from "./fleet.ts";
import {
  type Job,
  type JobRun,
  jobCommand,
  jobHosts,
  keepTail,
  restingHosts,
  runFault,
} from "./jobs.ts";

export interface RunJobOptions {
  fleet: Fleet;
  job: Job;
  /** a host a person named; otherwise the first of jobHosts that answers */
  host?: string;
  /** the role's hosts out of the rotation (restingHosts): tried after the others */
  resting?: ReadonlySet<string>;
  by: string;
  /** each line of its output as it comes, secrets taken out by `clean` first */
  onLine?: (line: string) => void;
  /** takes secrets out of a line before it is passed on or kept */
  clean?: (line: string) => string;
  /** before it runs, over the host's connection (a person's run is audited there) */
  before?: (ssh: Ssh, host: FleetHost) => Promise<void>;
  connect?: (host: FleetHost) => Promise<Ssh>;
}

/**
 * Runs a job once on one host of its role over the pinned SSH connection: the hosts are tried
 * in jobHosts' order until one answers, and the first that does runs it, in its current
 * release. Never throws for the run's own faults: a host that cannot be reached, no release
 * there, a failing exit or a timeout are all said in the JobRun.
 */
export async function runJob(options: RunJobOptions): Promise<JobRun> {
  const { job, fleet } = options;
  const clean = options.clean ?? ((line: string) => line);
  const startedAt = Date.now();
  const started = performance.now();
  const record = (run: Omit<JobRun, "job" | "startedAt" | "ms" | "by">): JobRun => ({
    job: job.name,
    startedAt,
    ms: Math.round(performance.now() - started),
    by: options.by,
    ...run,
  });
  const hosts = jobHosts(job, fleet.hosts, options.host, options.resting);
  if (hosts.length === 0)
    return record({
      host: "",
      release: "",
      code: -1,
      fault: `the fleet has no ${job.role} host to run it on`,
      tail: [],
    });
  const connect = options.connect ?? ((host: FleetHost) => Ssh.connect(targetOf(host, fleet)));
  const unreachable: string[] = [];
  for (const host of hosts) {
    let ssh: Ssh;
    try {
      ssh = await connect(host);
    } catch (error) {
      unreachable.push(`${host.name}: ${clean((error as Error).message)}`);
      continue;
    }
    try {
      const release = (await ssh.exec(hostCommands.currentRelease())).stdout.trim();
      if (!release)
        return record({
          host: host.name,
          release: "",
          code: -1,
          fault: `no release runs on ${host.name} yet (a deploy puts one there)`,
          tail: [],
        });
      await options.before?.(ssh, host);
      const tail: string[] = [];
      const line = (text: string) => {
        const shown = clean(text);
        keepTail(tail, shown);
        options.onLine?.(shown);
      };
      // a line each, whichever stream it came on; a last line without its newline is kept too
      const [out, err] = [lineSplitter(line), lineSplitter(line)];
      const code = await ssh.stream(jobCommand(job), out.take, err.take);
      out.end();
      err.end();
      const fault = runFault(job, code);
      return record({ host: host.name, release, code, tail, ...(fault ? { fault } : {}) });
    } finally {
      ssh.close();
    }
  }
  return record({
    host: "",
    release: "",
    code: -1,
    fault: `no ${job.role} host could be reached — ${unreachable.join("; ")}`,
    tail: [],
  });
}

/**
 * Takes out of a job's output what the control host knows to be secret before it is shown,
 * logged, kept or mailed: its own secrets (as every log line), the app's settings (bun run env;
 * those of 8 characters or more) and the app's Redis passwords, derived from the fleet's.
 */
export function jobOutputCleaner(
  env: Record<string, string | undefined> = process.env,
  cwd = process.cwd(),
): (line: string) => string {
  const values = Object.values(readAppSettings(appSettingsFile(env, cwd)));
  const master = env.DROPSHIP_REDIS_PASSWORD;
  if (master)
    for (const track of ["production", "staging"] as const)
      values.push(redisPasswordFor(master, appUser(track)));
  return (line) => maskValues(redact(line, env), values);
}

/**
 * The app hosts out of the rotation as the routing table has it now (restingHosts); none are
 * known, and every host is as good as another, when Redis does not answer within 2 s: a job
 * is not held up by it.
 */
export async function restingNow(
  redis: StateCommands,
  hosts: readonly FleetHost[],
): Promise<Set<string>> {
  // a timer cleared once answered: a command that asked would otherwise linger for it
  let timer: Timer | undefined;
  const backends = await Promise.race([
    listBackends(redis),
    new Promise<undefined>((resolve) => {
      timer = setTimeout(resolve, 2000, undefined);
    }),
  ]).catch(() => undefined);
  clearTimeout(timer);
  return backends ? restingHosts(hosts, backends) : new Set();
}
