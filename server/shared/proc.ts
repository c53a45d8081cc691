import { readFileSync } from "node:fs";
import type { FileSink } from "bun";
import { redact } from "./secrets.ts";

export class CommandError extends Error {
  constructor(
    readonly argv: string[],
    readonly code: number | null,
    readonly output: string,
  ) {
    super(
      `${argv.slice(0, 3).join(" ")}… failed (exit ${code}): ${redact(output.trim().split("\n").slice(-3).join(" / "))}`,
    );
    this.name = "CommandError";
  }
}

/** Runs a command to completion; throws a CommandError naming it and its last output lines. */
export function run(
  argv: string[],
  options: { input?: string; allowFailure?: boolean } = {},
): string {
  const proc = Bun.spawnSync(argv, {
    stdin: options.input === undefined ? "ignore" : new TextEncoder().encode(options.input),
    stdout: "pipe",
    stderr: "pipe",
  });
  const output = proc.stdout.toString() + proc.stderr.toString();
  if (proc.exitCode !== 0 && !options.allowFailure)
    throw new CommandError(argv, proc.exitCode, output);
  return proc.stdout.toString();
}

/** Runs a command without holding up the event loop; answers its exit code and output. */
export async function runAsync(
  argv: string[],
  options: { cwd?: string; env?: Record<string, string | undefined>; stdin?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { stdin, ...rest } = options;
  const proc = Bun.spawn(argv, {
    ...rest,
    stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

/**
 * Streams `body` into a child's stdin. Each write is awaited: one the pipe cannot take whole
 * answers a promise, which rejects (EPIPE) when the child exits first, and left unawaited that
 * rejection stops this whole process. Awaiting also keeps one chunk waiting, not the body.
 */
export async function pipeInto(body: AsyncIterable<Uint8Array>, stdin: FileSink): Promise<void> {
  for await (const chunk of body) {
    const pending = stdin.write(chunk);
    if (pending instanceof Promise) await pending;
  }
  await stdin.end();
}

/**
 * Reads a child's output to its end, handing on each line that is not blank as it comes; a
 * line longer than `maxLine` goes on in parts (output with no line end would otherwise gather
 * here without bound).
 */
export async function relayLines(
  stream: ReadableStream<Uint8Array>,
  line: (text: string) => void,
  maxLine: number,
): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    while (pending.length > maxLine) {
      lines.push(pending.slice(0, maxLine));
      pending = pending.slice(maxLine);
    }
    for (const text of lines) if (text.trim()) line(text);
  }
  pending += decoder.decode();
  if (pending.trim()) line(pending);
}

/** User and system CPU time of a process so far, in clock ticks (100 a second here). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // the name, in parentheses, may hold spaces and parentheses itself
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** A process's children, from /proc (those its main thread started). */
export function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
}

/**
 * Whether a process is still running. A killed child lingers as a zombie until it is reaped
 * (here PID 1 reaps orphans about once a second), so a zombie counts as gone.
 */
export function isAlive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** This program's command line: the compiled binary alone, or bun and the entry file. */
export function ownArgv(): string[] {
  return Bun.main.startsWith("/$bunfs/") ? [process.execPath] : [process.execPath, Bun.main];
}
