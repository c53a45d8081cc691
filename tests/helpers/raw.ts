import net from "node:net";
import { eventually } from "./server.ts";

/**
 * Raw HTTP over one TCP connection, for what a client library would tidy away: repeated or
 * empty fields, odd request lines, bodies cut off half way.
 */
export async function rawRequest(
  baseUrl: string,
  request: string | Uint8Array,
  {
    quietMs = 250,
    maxMs = 10_000,
    tls,
  }: { quietMs?: number; maxMs?: number; tls?: { ca: string; serverName: string } } = {},
): Promise<string> {
  const { hostname, port } = new URL(baseUrl);
  let received = "";
  let closed = false;
  // over TLS, what is written before the handshake is done is not sent (write answers 0)
  let shaken: () => void = () => undefined;
  const handshake = new Promise<void>((resolve) => {
    shaken = resolve;
  });
  const socket = await Bun.connect({
    hostname,
    port: Number(port),
    ...(tls ? { tls } : {}),
    socket: {
      data(_socket, data) {
        received += data.toString("latin1");
      },
      close() {
        closed = true;
      },
      error() {
        closed = true;
        shaken();
      },
      handshake() {
        shaken();
      },
    },
  });
  if (tls) await handshake;
  socket.write(request);
  const started = performance.now();
  let length = 0;
  let changed = started;
  // until closed, or quiet for quietMs after the first byte (looked at often, so that a close
  // ends the wait at once): a busy machine may take longer than quietMs to begin an answer
  for (
    let now = started;
    !closed && (length === 0 || now - changed < quietMs) && now - started < maxMs;
  ) {
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

/** A raw connection from a loopback address of a test's own: what came back, and whether it closed. */
export interface Held {
  socket: net.Socket;
  received(): string;
  closed(): boolean;
}

/** Opens a connection to `port` from the address `from` (127.0.0.x), and sends `first` if given. */
export function holdOpen(port: number, from: string, first?: string): Promise<Held> {
  return new Promise((resolve) => {
    let received = "";
    let closed = false;
    const socket = net.connect({ host: "127.0.0.1", port, localAddress: from });
    const held = { socket, received: () => received, closed: () => closed };
    socket.on("connect", () => {
      if (first) socket.write(first);
      resolve(held);
    });
    socket.on("data", (data: Buffer) => {
      received += data.toString("latin1");
    });
    socket.on("error", () => {
      closed = true;
      resolve(held);
    });
    socket.on("close", () => {
      closed = true;
    });
  });
}

/** Sends `request` on a connection of its own from `from`; the whole answer, once closed. */
export async function answerFrom(port: number, from: string, request: string): Promise<string> {
  const held = await holdOpen(port, from, request);
  await eventually(async () => held.closed(), 5000, `the answer on port ${port} to ${from}`);
  return held.received();
}
