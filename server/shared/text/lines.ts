/**
 * Cuts a stream of chunks into whole lines: `take` each chunk, `end` once the stream is done,
 * which passes on a last line that had no newline.
 */
export function lineSplitter(onLine: (line: string) => void) {
  let pending = "";
  return {
    take: (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) onLine(line);
    },
    end: () => {
      if (pending) onLine(pending);
      pending = "";
    },
  };
}
