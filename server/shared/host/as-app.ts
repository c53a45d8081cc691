import { shellQuote } from "../text/shell.ts";
import { APP_ENV_ON_HOST, HOST_ROOT } from "./layout.ts";
import { SANDBOX } from "./sandbox.ts";

/** The user the app runs as on its hosts (the playbooks' dropship_service_user). */
export const APP_USER = "dropship";

/**
 * `command` as the app's own process runs: in the release that runs on the host, as the app's
 * user, never root, with the app's settings. `env` is set before; `timeoutMs` stops it
 * (SIGTERM, then SIGKILL 10 s on); `pty` gives it a terminal of its own, so the app's user never
 * holds the root terminal it was started from.
 *
 * Under systemd it is a unit of its own, as the app is (systemd-run, waited for, its output
 * passed through): the app's sandbox (sandbox.ts), no capability, its settings read by systemd
 * from the file the app's unit reads, and when it ends whatever it left running goes with it,
 * however it detached. Elsewhere (a host without systemd, whose services run unsandboxed too)
 * through runuser: the settings file is root's (0600), so root opens it and hands it to the
 * user's shell as descriptor 3, which reads it there (its lines are shell-quoted, so `eval`
 * reads them as `.` would) and closes it, so nothing in it (a PATH, an LD_PRELOAD) ever reaches
 * a process of root's, and the command cannot read the file again.
 */
export function asApp(
  command: string,
  options: { env?: Record<string, string>; timeoutMs?: number; pty?: boolean } = {},
): string {
  const env = Object.entries(options.env ?? {});
  const timeout =
    options.timeoutMs === undefined
      ? ""
      : `/usr/bin/timeout --kill-after=10s ${Math.max(1, Math.ceil(options.timeoutMs / 1000))}s `;
  const systemdRun = [
    "/usr/bin/systemd-run --quiet --wait --collect",
    options.pty ? "--pty" : "--pipe",
    `--uid=${APP_USER} --working-directory=${HOST_ROOT}/current`,
    `-p EnvironmentFile=${APP_ENV_ON_HOST} -p CapabilityBoundingSet=`,
    ...SANDBOX.map((setting) => `-p ${shellQuote(setting)}`),
    ...env.map(([name, value]) => `-E ${shellQuote(`${name}=${value}`)}`),
    `-- ${timeout}/bin/sh -c ${shellQuote(command)}`,
  ].join(" ");
  // read through the descriptor: opening /dev/fd/3 again would be the app user's open, refused
  const inner = 'set -a; eval "$(cat <&3)"; set +a; exec 3<&-; exec sh -c "$1"';
  const runuser = [
    env.map(([name, value]) => `${name}=${shellQuote(value)} `).join(""),
    `exec ${timeout}/usr/sbin/runuser${options.pty ? " --pty" : ""} -u ${APP_USER} -- `,
    `/bin/sh -c ${shellQuote(inner)} sh ${shellQuote(command)} 3< ${APP_ENV_ON_HOST}`,
  ].join("");
  return `cd ${HOST_ROOT}/current && if [ -d /run/systemd/system ]; then exec ${systemdRun}; else ${runuser}; fi`;
}
