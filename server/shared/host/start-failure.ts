import { redact } from "../secrets.ts";

/** Automatic restarts after which a service counts as unable to start (RestartSec=1: ~3 s). */
export const RESTARTS_GIVEN_UP = 3;

const EXITED = /^dropship-\S+\.service: Main process exited, (code=\S+, status=\S+)/;
/** systemd's lines about starting and stopping the unit, which say nothing the summary does not. */
const SYSTEMD_STEP = /^(Started|Starting|Stopped|Stopping|Failed to start) /;
/** systemd's lines about the unit's process; of them only why it could not be run is kept. */
const SYSTEMD_ABOUT = /^dropship-\S+\.service: /;
const COULD_NOT_RUN = /^dropship-\S+\.service: Failed (at step |to (?!kill ))/;
const said = (line: string) =>
  !SYSTEMD_STEP.test(line) && (!SYSTEMD_ABOUT.test(line) || COULD_NOT_RUN.test(line));

/**
 * Why a service restarted by dropship cannot be running, from `hostCommands.startState`'s
 * output: it has exited RESTARTS_GIVEN_UP times since (the restart resets the count), or systemd
 * gave up on it. Says how its last finished attempt ended and what it printed, or what the
 * latest finished attempt that printed anything printed (secrets redacted); undefined while it
 * may still come up, and for a host without systemd (no output).
 */
export function startFailure(service: string, output: string): string | undefined {
  const separator = output.indexOf("\n--\n");
  if (separator < 0) return undefined;
  const state = new Map(
    output
      .slice(0, separator)
      .split("\n")
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
  const restarts = Number(state.get("NRestarts") ?? 0);
  if (restarts < RESTARTS_GIVEN_UP && state.get("ActiveState") !== "failed") return undefined;
  // the journal by attempt (systemd's invocation ids, not the order of its lines: a process's
  // last words and systemd's lines about it reach the journal by different ways and can pass
  // each other); only the attempts since dropship's restart, and of them the last that ended
  const attempts = new Map<string, string[]>();
  for (const { attempt, message } of journalEntries(output.slice(separator + 4))) {
    const lines = attempts.get(attempt) ?? [];
    lines.push(message);
    attempts.set(attempt, lines);
  }
  const recent = [...attempts.values()].slice(-(restarts + 1));
  const ended = recent.filter((lines) => lines.some((line) => EXITED.test(line)));
  const how = (ended.at(-1) ?? []).map((line) => EXITED.exec(line)?.[1]).find(Boolean);
  // what the last ended attempt said may not be in the journal yet when systemd's line that it
  // exited is (CI saw "it printed nothing" there): then what the one before it said
  const lines =
    ended
      .map((attempt) => attempt.filter(said).slice(-3))
      .findLast((printed) => printed.length > 0) ?? [];
  return redact(
    `dropship-${service} keeps exiting (${how ?? "no exit status"}; restarted ${restarts} time${restarts === 1 ? "" : "s"}): ${
      lines.length > 0 ? lines.join(" / ") : "it printed nothing"
    } (bun run logs shows more)`,
  );
}

/** `journalctl -o json` lines as the attempt (invocation) each belongs to and its message */
function journalEntries(journal: string): { attempt: string; message: string }[] {
  const entries: { attempt: string; message: string }[] = [];
  for (const line of journal.split("\n")) {
    if (!line.startsWith("{")) continue;
    let fields: Record<string, unknown>;
    try {
      fields = JSON.parse(line);
    } catch {
      continue;
    }
    // systemd's own lines carry INVOCATION_ID, the process's output _SYSTEMD_INVOCATION_ID
    const attempt = fields.INVOCATION_ID ?? fields._SYSTEMD_INVOCATION_ID;
    // journalctl writes a message that is not clean UTF-8 as an array of its bytes
    const message = Array.isArray(fields.MESSAGE)
      ? Buffer.from(fields.MESSAGE.filter((byte) => typeof byte === "number")).toString()
      : fields.MESSAGE;
    if (typeof attempt === "string" && typeof message === "string" && message.trim()) {
      entries.push({ attempt, message });
    }
  }
  return entries;
}
