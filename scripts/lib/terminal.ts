import type { Ssh, TerminalSize } from "../../server/shared/ssh.ts";
import { ArgumentError } from "./cli.ts";

/** How `bun run exec` runs what it was given: its output streamed, or on a terminal on the host. */
export type ExecMode = { terminal: false } | { terminal: true; command: string | undefined };

/**
 * A command line streams its output, as before; `-i` puts it on a terminal (a REPL, `top`); no
 * command at all is a shell. A terminal needs one here too: this command's own input.
 */
export function execMode(
  command: string,
  interactive: boolean,
  inputIsTerminal: boolean,
): ExecMode {
  const given = command.trim() !== "";
  if (!given && !inputIsTerminal)
    throw new ArgumentError(
      "no command after --, and a shell needs a terminal, which this command's input is not: give the command after --, or run this from a terminal",
    );
  if (interactive && !inputIsTerminal)
    throw new ArgumentError(
      "-i runs the command on a terminal, and this command's input is not one: leave -i out to run it with its output streamed",
    );
  if (!given) return { terminal: true, command: undefined };
  return interactive ? { terminal: true, command } : { terminal: false };
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
