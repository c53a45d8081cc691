import { SOURCES_FILE } from "../platform.ts";

/**
 * The release layout on every host, and every shell command that reads or changes it. What a
 * host keeps under HOST_ROOT:
 *   releases/<version>/  the binaries of each release kept (and its SOURCES)
 *   current              a symlink to the release that runs, switched atomically
 *   deployed             the releases that went live, oldest first: what rollback goes back along
 *   bin/dropship-service the service script of hosts without systemd
 *   services/, shared/   each service's definition and settings (written by Ansible)
 *   logs/<service>.log   each service's output on hosts without systemd
 *   logs/access.log      the proxy's access log, on proxy hosts (rotated to access.log.1 …)
 *   data/users           the named users' token hashes, on proxy hosts (the proxy's only)
 *   audit.log            what operators did there (root's only)
 */
export const HOST_ROOT = "/srv/dropship";

/** The name a commit's release goes by, on hosts and in the inventory: its first 12 characters. */
export const releaseVersion = (commit: string): string => commit.slice(0, 12);

/** A release name safe in a path and a shell command. */
export const isReleaseName = (text: string): boolean => /^[\w.-]{1,64}$/.test(text);

/** Releases a host keeps: its current one and the newest others, for a rollback. */
export const HOST_RELEASES_KEPT = 3;

export const releaseDirOnHost = (version: string) => `${HOST_ROOT}/releases/${version}`;
export const currentBinary = (name: string) => `${HOST_ROOT}/current/${name}`;
export const HOST_AUDIT_LOG = `${HOST_ROOT}/audit.log`;
/** The proxy's access log (DROPSHIP_ACCESS_LOG, set by the playbook) and its rotated files. */
export const HOST_ACCESS_LOG = `${HOST_ROOT}/logs/access.log`;
export const USERS_ON_HOST = `${HOST_ROOT}/data/users`;
/** the app's settings, dropship's and the team's (written by Ansible and by `bun run env`) */
export const APP_ENV_ON_HOST = `${HOST_ROOT}/shared/app.env`;

/** A time as `toISOString` writes it: the only form a host command takes, and sorts as text. */
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

export const hostCommands = {
  /** prints the release `current` points at (nothing when there is none) */
  currentRelease: () => `basename "$(readlink ${HOST_ROOT}/current)" 2>/dev/null`,
  /**
   * moves a checked binary into place (`<path>.part`, its digest known) and records the digest
   * beside it, as the base's digest for the next delivery's delta; no record while it moves
   */
  placeBinary: (path: string, sha256: string) =>
    `chmod 755 ${path}.part && rm -f ${path}.sha256 && mv -f ${path}.part ${path} && echo ${sha256} > ${path}.sha256`,
  /**
   * prints a file's SHA-256 first: OpenSSL's, which uses the CPU's SHA instructions (0.11 s for
   * a 105 MB binary where coreutils' sha256sum took 0.26), or sha256sum's on a host without it;
   * nothing for a missing file, without starting OpenSSL (~20 ms a call)
   */
  sha256: (path: string) =>
    `if [ -f ${path} ]; then openssl dgst -sha256 -r ${path} 2>/dev/null || sha256sum ${path}; fi`,
  /** prints a binary's digest as recorded when it was delivered, else as read from the file */
  recordedDigest: (path: string) =>
    `cat ${path}.sha256 2>/dev/null || ${hostCommands.sha256(path)}`,
  /** points `current` at a release, atomically (rename over the old link) */
  switchTo: (version: string) =>
    `cd ${HOST_ROOT} && ln -sfn releases/${version} current.next && mv -T current.next current`,
  /** that a release exists, then switchTo */
  switchToExisting: (version: string) =>
    `test -d ${releaseDirOnHost(version)} && ${hostCommands.switchTo(version)}`,
  /** notes that a release went live */
  recordDeployed: (version: string) => `echo ${version} >> ${HOST_ROOT}/deployed`,
  /** prints the releases that went live, oldest first */
  listDeployed: () => `cat ${HOST_ROOT}/deployed 2>/dev/null`,
  /** prints the releases kept, newest first */
  listReleases: () => `ls -1t ${HOST_ROOT}/releases 2>/dev/null`,
  /** removes a release */
  dropRelease: (version: string) => `rm -rf ${releaseDirOnHost(version)}`,
  /** removes a release unless it is the current one */
  dropReleaseUnlessCurrent: (version: string) =>
    `[ "$(${hostCommands.currentRelease()})" = ${version} ] || ${hostCommands.dropRelease(version)}`,
  /** keeps the current release and the newest `keep - 1` others */
  prune: (keep: number) =>
    `cd ${HOST_ROOT}/releases && current=$(basename "$(readlink ${HOST_ROOT}/current)") && ls -1t | grep -vx "$current" | tail -n +${keep} | xargs -r rm -rf`,
  /** puts a users file copied to `staged` in place for the proxy, which reads it within 1 s (at once for a token it does not know) */
  installUsers: (staged: string) =>
    `chown dropship:dropship ${staged} && chmod 600 ${staged} && mv -f ${staged} ${USERS_ON_HOST}`,
  /** prints the source digests of what runs */
  readSources: () => `cat ${HOST_ROOT}/current/${SOURCES_FILE} 2>/dev/null`,
  /**
   * stops, restarts or hands over a service, with or without systemd. A handover starts the
   * next process beside the running one and stops the old one once the new one listens: under
   * systemd, whose unit has one main process, a second unit carries the ports while the first
   * restarts (dropship-handover; a host whose playbooks came from a dropship without it is
   * restarted until its next converge); without systemd, dropship-service runs both processes.
   */
  service: (action: "restart" | "stop" | "handover", service: string) => {
    const handover = `${HOST_ROOT}/bin/dropship-handover`;
    const unit = `dropship-${service}`;
    // a unit that crashed in a loop (a release that could not start) is refused a start for a
    // while, even by hand: a rollback's restart would leave the host down; reset-failed lifts it
    const systemd =
      action === "handover"
        ? `if [ -x ${handover} ]; then ${handover} ${service}; else systemctl reset-failed ${unit} 2>/dev/null; systemctl restart ${unit}; fi`
        : action === "restart"
          ? `systemctl reset-failed ${unit} 2>/dev/null; systemctl restart ${unit}`
          : `systemctl ${action} ${unit}`;
    return `if [ -d /run/systemd/system ]; then ${systemd}; else ${HOST_ROOT}/bin/dropship-service ${action} ${service}; fi`;
  },
  /**
   * prints a service's state under systemd (its automatic restarts since dropship's last
   * restart, which resets them, and its state), `--`, and its last journal entries as JSON
   * with the attempt each belongs to: what `startFailure` reads. Nothing without systemd.
   */
  startState: (service: string) => {
    const unit = `dropship-${service}`;
    return `if [ -d /run/systemd/system ]; then systemctl show -p NRestarts -p ActiveState ${unit}; echo --; journalctl -u ${unit} -n 60 -o json --all --output-fields=MESSAGE,INVOCATION_ID,_SYSTEMD_INVOCATION_ID --no-pager; fi`;
  },
  /**
   * prints (or with `follow`, keeps printing) a service's log, its last `lines`; with `since`
   * (an ISO time) only the lines from then on, picked there — by journald, or from the file by
   * its lines' leading times (ISO, which sort as text; a line without one goes with the line
   * before) — so a stretch is not cut to the last `lines` of everything. `tail -F` survives
   * rotation.
   */
  log: (service: string, options: { lines: number; follow: boolean; since?: string }) => {
    const { lines, follow, since } = options;
    const file = `${HOST_ROOT}/logs/${service}.log`;
    if (since !== undefined) {
      if (!ISO_TIME.test(since)) throw new Error(`not an ISO time: ${since}`);
      const journal = `journalctl -u dropship-${service} -o cat --no-pager --since @${Math.floor(Date.parse(since) / 1000)} -n ${lines}`;
      const picked = `awk -v since=${since} 'on || ($1 ~ /^[0-9][0-9][0-9][0-9]-/ && $1 >= since) { on = 1; print }' ${file} 2>/dev/null | tail -n ${lines}`;
      return `if [ -d /run/systemd/system ]; then ${journal}; else ${picked}; fi`;
    }
    const journal = `journalctl -u dropship-${service} -o cat --no-pager -n ${lines}${follow ? " -f" : ""}`;
    const tail = `tail -n ${lines}${follow ? " -F" : ""} ${file}`;
    return `if [ -d /run/systemd/system ]; then ${journal}; else ${tail}; fi`;
  },
  /**
   * prints (or keeps printing) a proxy host's access log, its last `lines`; with `since` (an ISO
   * time, which sorts as text) the lines from then on, read there from the file and the one
   * rotated before it: a busy proxy's stretch is more lines than a fixed count would take.
   * `tail -F` follows the file across rotation.
   */
  accessLog: (options: { lines: number; follow: boolean; since?: string }) => {
    const { lines, follow, since } = options;
    if (since !== undefined) {
      if (!ISO_TIME.test(since)) throw new Error(`not an ISO time: ${since}`);
      return `cat ${HOST_ACCESS_LOG}.1 ${HOST_ACCESS_LOG} 2>/dev/null | awk -v since=${since} '$1 >= since' | tail -n ${lines}`;
    }
    return `tail -n ${lines}${follow ? " -F" : ""} ${HOST_ACCESS_LOG}`;
  },
  /**
   * names other Sentinels in every service's Redis URL (the `sentinels=` value, encoded: see
   * sentinelsParam), for the services' next start; prints the files it changed
   */
  pointSentinels: (param: string) => {
    if (!/^[A-Za-z0-9.%_-]+$/.test(param)) throw new Error(`not a sentinels= value: ${param}`);
    const pattern = `s#(redis-sentinel://[^[:space:]'"]*[?&]sentinels=)[^&[:space:]'"]*#\\1${param}#g`;
    return `for f in ${HOST_ROOT}/shared/*.env; do [ -f "$f" ] || continue; if grep -q 'redis-sentinel://' "$f"; then sed -i -E '${pattern.replaceAll("'", `'"'"'`)}' "$f" && echo "$f"; fi; done`;
  },
};
