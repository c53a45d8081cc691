import { asApp } from "../../server/shared/host/as-app.ts";
import type { Ssh, TerminalSize } from "../../server/shared/ssh.ts";
import { ArgumentError } from "./cli.ts";

/** What `bun run exec` runs on the host, and how. */
export interface ExecPlan {
  /** the command line; undefined: root's login shell */
  remote: string | undefined;
  /** on a terminal on the host, this one's keys going there; else its output streamed */
  terminal: boolean;
  /** what the audit says was run */
  audited: string;
}

/**
 * A command line streams its output, as before; `-i` puts it on a terminal (a REPL, `top`); no
 * command at all is a shell. `--app` runs it as the app does (asApp: its release, its user, its
 * settings), its shell `bash`. A terminal there needs one here: this command's own input.
 */
export function execPlan(
  command: string,
  flags: { interactive: boolean; app: boolean },
  inputIsTerminal: boolean,
): ExecPlan {
  const given = command.trim() !== "";
  if (!given && !inputIsTerminal)
    throw new ArgumentError(
      "no command after --, and a shell needs a terminal, which this command's input is not: give the command after --, or run this from a terminal",
    );
  if (flags.interactive && !inputIsTerminal)
    throw new ArgumentError(
      "-i runs the command on a terminal, and this command's input is not one: leave -i out to run it with its output streamed",
    );
  const terminal = flags.interactive || !given;
  const what = given ? command : "a shell";
  const audited = `${flags.app ? "as the app: " : ""}${what}${terminal ? " (on a terminal: what is typed there is not recorded)" : ""}`;
  if (flags.app)
    return { remote: asApp(given ? command : "bash", { pty: terminal }), terminal, audited };
  return { remote: given ? command : undefined, terminal, audited };
}

/** This terminal's kind and size, as the host's programs are to see them. */
const localSize = (): TerminalSize => ({
  term: process.env.TERM || "xterm-256color",
  rows: process.stdout.rows || 24,
  cols: process.stdout.columns || 80,
});

/**
 * Runs `command` (or the shell) on a terminal on the host, as `ssh -t` does: every key goes
 * there as typed (Ctrl-C too: it stops what runs there, not this), and the host's terminal
 * follows this one's size. Answers the exit code; this terminal is put back as it was.
 */
export async function onTerminal(ssh: Ssh, command: string | undefined): Promise<number> {
  const { stdin, stdout } = process;
  stdin.setRawMode(true);
  try {
    const running = await ssh.terminal(command, localSize(), stdin, stdout);
    const resized = () => running.resize(localSize());
    stdout.on("resize", resized);
    try {
      return await running.exited;
    } finally {
      stdout.off("resize", resized);
    }
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
  }
}
