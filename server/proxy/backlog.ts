/** What a backlog writes to: a Bun socket, which may take only part of what it is given. */
interface Writable {
  write(bytes: Uint8Array): number;
}

/**
 * Writes `bytes`, or queues them behind what already waits; false when the socket is backed
 * up (wait for its drain, then `flushBacklog`).
 */
export function writeOrQueue(socket: Writable, backlog: Uint8Array[], bytes: Uint8Array): boolean {
  if (backlog.length) {
    backlog.push(bytes);
    return false;
  }
  const written = socket.write(bytes);
  if (written === bytes.length) return true;
  backlog.push(bytes.subarray(Math.max(0, written)));
  return false;
}

/** Writes what waits, as far as the socket takes it; true once nothing waits. */
export function flushBacklog(socket: Writable, backlog: Uint8Array[]): boolean {
  while (backlog.length) {
    const next = backlog[0] as Uint8Array;
    const written = socket.write(next);
    if (written < next.length) {
      backlog[0] = next.subarray(Math.max(0, written));
      return false;
    }
    backlog.shift();
  }
  return true;
}
