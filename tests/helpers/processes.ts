import type { Subprocess } from "bun";

const running = new Set<Subprocess>();

/**
 * Remembers a child so it is killed when the test process exits, even after a failure. Under
 * `bun test` (1.4) no exit event comes: there the lane's session is what catches a leftover
 * (scripts/test.ts), and the helpers stop a child that never became ready themselves.
 */
export function track<P extends Subprocess>(child: P): P {
  running.add(child);
  child.exited.then(() => running.delete(child));
  return child;
}

process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** Reads a child's stdout until a line matches, or fails after `ms` with what it printed. */
export async function waitForLine(
  stream: ReadableStream<Uint8Array>,
  pattern: RegExp,
  ms: number,
  what: string,
  /** told what the stream says after the line, as it comes */
  rest?: (text: string) => void,
): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let seen = "";
  const deadline = setTimeout(() => reader.cancel(), ms);
  try {
    while (!pattern.test(seen)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`${what} did not print ${pattern} within ${ms} ms:\n${seen}`);
      seen += decoder.decode(value, { stream: true });
    }
  } finally {
    clearTimeout(deadline);
    reader.releaseLock();
  }
  drain(stream, rest);
  return seen;
}

async function drain(stream: ReadableStream<Uint8Array>, rest?: (text: string) => void) {
  const decoder = new TextDecoder();
  try {
    // kept empty so the child never blocks on a full pipe
    for await (const chunk of stream) rest?.(decoder.decode(chunk, { stream: true }));
  } catch {
    // the child went away
  }
}
