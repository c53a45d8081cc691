import { formatDuration } from "../server/shared/config/duration.ts";
import { relayLines } from "../server/shared/proc.ts";
import { redact } from "../server/shared/secrets.ts";

/**
 * Commands of the team's own around a deploy (Kamal's pre-deploy and post-deploy hooks, a
 * Heroku release phase): pipeline/hooks/pre_deploy runs once a release passed its gate and
 * before any host changes, and refuses the deploy by failing; post_deploy runs once the
 * release is live on every host of its role, and after a rollback, to tell people or systems.
 * They come from dropship.yml on the control host, never from pushed code.
 */
export type HookName = "pre_deploy" | "post_deploy";

export interface HookEvent {
  command: "push" | "deploy" | "rollback";
  role: string;
  branch: string;
  commit: string;
  version: string;
  performer: string;
  hosts: string[];
  /** seconds since the deploy began, for post_deploy */
  runtime?: number;
}

/** What a line of a hook's output may hold at most; longer output is cut into such lines. */
const MAX_LINE = 4096;
/** The last lines of a failed hook's output, quoted in the error. */
const TAIL_LINES = 3;

/**
 * A hook's environment: what a shell needs and the deploy it is about, nothing of the
 * receiver's own (its admin token, the DigitalOcean token, Redis's password stay out; a hook
 * that needs a secret reads it from a file of its own).
 */
export function hookEnvironment(
  event: HookEvent,
  base: Record<string, string | undefined>,
): Record<string, string> {
  return {
    ...shellEnvironment(base),
    DROPSHIP_COMMAND: event.command,
    DROPSHIP_ROLE: event.role,
    DROPSHIP_BRANCH: event.branch,
    DROPSHIP_COMMIT: event.commit,
    DROPSHIP_VERSION: event.version,
    DROPSHIP_PERFORMER: event.performer,
    DROPSHIP_HOSTS: event.hosts.join(","),
    DROPSHIP_RECORDED_AT: new Date().toISOString(),
    ...(event.runtime === undefined ? {} : { DROPSHIP_RUNTIME: event.runtime.toFixed(1) }),
  };
}

/** What a shell needs from `base`, and nothing else of it. */
export function shellEnvironment(base: Record<string, string | undefined>): Record<string, string> {
  const kept = Object.fromEntries(
    ["PATH", "HOME", "LANG", "USER", "LOGNAME", "TZ"]
      .filter((name) => base[name] !== undefined)
      .map((name) => [name, base[name] as string]),
  );
  return { PATH: "/usr/local/bin:/usr/bin:/bin", ...kept };
}

export class HookError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HookError";
  }
}

/**
 * Runs one hook with `sh -c` in `cwd`, its output said line by line as it comes; throws a
 * HookError naming the hook, how it ended and its last lines when it exits non-zero or
 * outlasts `timeoutMs`. What it leaves running in the background is stopped when it exits.
 */
export function runHook(
  name: HookName,
  command: string,
  event: HookEvent,
  options: { timeoutMs: number; cwd: string; say: (line: string) => void },
): Promise<void> {
  return runCommand(`pipeline/hooks/${name}`, command, hookEnvironment(event, process.env), {
    ...options,
    timeoutSetting: "pipeline/hooks/timeout",
  });
}

/**
 * A command of the team's own from dropship.yml (a hook, backup/after), named by its setting:
 * `sh -c` in `cwd` with `env` only, its output said line by line; a HookError when it exits
 * non-zero or outlasts `timeoutMs`; what it leaves running in the background stopped.
 */
export async function runCommand(
  setting: string,
  command: string,
  env: Record<string, string>,
  options: { timeoutMs: number; timeoutSetting: string; cwd: string; say: (line: string) => void },
): Promise<void> {
  const { say, timeoutMs } = options;
  const started = performance.now();
  // named, not quoted: a command may hold a webhook's secret URL, and this goes to the pusher
  say(`▸ ${setting}`);
  // one pipe for both: read from two, stderr's lines came out of the order they were written
  // in (`a, b >&2, c` said as a, c, b), and a failure's last line, the one that says why, could
  // fall out of the quoted tail behind stdout's
  const child = Bun.spawn(["sh", "-c", `exec 2>&1\n${command}`], {
    cwd: options.cwd,
    env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    // a group of its own, so what it starts is stopped with it
    detached: true,
  });
  const tail: string[] = [];
  const relay = (stream: ReadableStream<Uint8Array>) =>
    relayLines(
      stream,
      (line) => {
        say(`    ${redact(line)}`);
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
      },
      MAX_LINE,
    );
  const stopGroup = () => {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // the group is gone already
    }
  };
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stopGroup();
  }, timeoutMs);
  const relayed = Promise.all([relay(child.stdout), relay(child.stderr)]);
  const code = await child.exited;
  clearTimeout(timer);
  // a background process it left would hold its output open, and the deploy with it
  stopGroup();
  await relayed;
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const last = tail.length ? `; it said: ${redact(tail.join(" / "))}` : "";
  if (timedOut)
    throw new HookError(
      `${setting} was still running after ${formatDuration(timeoutMs)} (${options.timeoutSetting}) and was stopped${last}`,
    );
  if (code !== 0) throw new HookError(`${setting} failed (exit ${code}) after ${seconds} s${last}`);
  say(`  ${setting}: ok (${seconds} s)`);
}
