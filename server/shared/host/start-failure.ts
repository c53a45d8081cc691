import { redact } from "../secrets.ts";

/** Automatic restarts after which a service counts as unable to start (RestartSec=1: ~3 s). */
export const RESTARTS_GIVEN_UP = 3;

const STARTED = /^Started /;
const EXITED = /^dropship-\S+\.service: Main process exited, (code=\S+, status=\S+)/;
/** systemd's own lines about a unit's process, which say nothing the summary does not. */
const BOOKKEEPING =
  /^(Started|Starting|Stopped|Stopping|Failed to start) |^dropship-\S+\.service: (Scheduled restart job|Failed with result|Main process exited|Consumed|Deactivated successfully|Start request repeated too quickly|Succeeded)/;

/**
 * Why a service restarted by dropship cannot be running, from `hostCommands.startState`'s
 * output: it has exited RESTARTS_GIVEN_UP times since (the restart resets the count), or systemd
 * gave up on it. Says how its last finished attempt ended and what it printed (secrets
 * redacted); undefined while it may still come up, and for a host without systemd (no output).
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
  // the journal by attempt, each from systemd's "Started"; only those since dropship's restart,
  // and of them the last that ended (the newest may have only begun)
  const attempts: string[][] = [[]];
  for (const line of output.slice(separator + 4).split("\n")) {
    if (STARTED.test(line)) attempts.push([]);
    else if (line.trim()) attempts.at(-1)?.push(line);
  }
  const recent = attempts.slice(-(restarts + 1));
  const ended = recent.findLast((lines) => lines.some((line) => EXITED.test(line))) ?? [];
  const how = ended.map((line) => EXITED.exec(line)?.[1]).find(Boolean);
  const said = ended.filter((line) => !BOOKKEEPING.test(line)).slice(-3);
  return redact(
    `dropship-${service} keeps exiting (${how ?? "no exit status"}; restarted ${restarts} time${restarts === 1 ? "" : "s"}): ${
      said.length > 0 ? said.join(" / ") : "it printed nothing"
    } (bun run logs shows more)`,
  );
}
