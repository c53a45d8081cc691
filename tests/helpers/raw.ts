/**
 * Raw HTTP over one TCP connection, for what a client library would tidy away: repeated or
 * empty fields, odd request lines, bodies cut off half way.
 */
export async function rawRequest(
  baseUrl: string,
  request: string | Uint8Array,
  { quietMs = 250, maxMs = 10_000 }: { quietMs?: number; maxMs?: number } = {},
): Promise<string> {
  const { hostname, port } = new URL(baseUrl);
  let received = "";
  let closed = false;
  const socket = await Bun.connect({
    hostname,
    port: Number(port),
    socket: {
      data(_socket, data) {
        received += data.toString("latin1");
      },
      close() {
        closed = true;
      },
      error() {
        closed = true;
      },
    },
  });
  socket.write(request);
  const started = performance.now();
  let length = 0;
  let changed = started;
  // until closed, or quiet for quietMs (looked at often, so that a close ends the wait at once)
  for (let now = started; !closed && now - changed < quietMs && now - started < maxMs; ) {
    await Bun.sleep(Math.min(10, quietMs));
    now = performance.now();
    if (received.length !== length) [length, changed] = [received.length, now];
  }
  socket.end();
  return received;
}

/** Sends a request's head and part of its body, then drops the connection. */
export async function abortUpload(baseUrl: string, head: string, partial: string, afterMs = 50) {
  const { hostname, port } = new URL(baseUrl);
  const socket = await Bun.connect({
    hostname,
    port: Number(port),
    socket: { data() {} },
  });
  socket.write(head + partial);
  await Bun.sleep(afterMs);
  socket.terminate();
}

/** The status code of the first answer in raw text, or 0 when there is none. */
export function statusOf(answer: string): number {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(answer);
  return match ? Number(match[1]) : 0;
}
