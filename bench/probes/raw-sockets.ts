/**
 * A floor probe, not a product: the least an HTTP/1.1 proxy on raw sockets does in Bun —
 * Bun.listen in front, a keep-alive pool of Bun.connect sockets behind, round-robin; requests
 * without bodies only, passed through byte for byte (no header work), answers relayed as they
 * arrive, framed by Content-Length. It measures what Bun can do without Request and Response
 * objects, to judge whether an engine of dropship's own could reach nginx.
 */
import type { Socket } from "bun";

interface Upstream {
  socket?: Socket<Upstream>;
  index: number;
  /** the client the answer goes to, and how many bytes of it are still due */
  client?: Socket<Client>;
  head: Uint8Array;
  remaining: number;
}

interface Client {
  buffer: Uint8Array;
  busy: boolean;
}

const targets = (process.env.UPSTREAMS ?? "").split(",").map((u) => new URL(u));
const idle: Upstream[][] = targets.map(() => []);
const decoder = new TextDecoder();
let turn = 0;

function join(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function headEnd(b: Uint8Array): number {
  for (let i = 3; i < b.length; i++)
    if (b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) return i + 1;
  return -1;
}

function contentLength(head: Uint8Array): number {
  const match = /\r\ncontent-length:\s*(\d+)/i.exec(decoder.decode(head));
  return match ? Number(match[1]) : 0;
}

function connectUpstream(index: number): Promise<Upstream> {
  const target = targets[index] as URL;
  const up: Upstream = { index, head: new Uint8Array(0), remaining: -1 };
  return new Promise((resolve, reject) => {
    Bun.connect<Upstream>({
      hostname: target.hostname,
      port: Number(target.port),
      data: up,
      socket: {
        open(socket) {
          up.socket = socket;
          resolve(up);
        },
        data(_socket, chunk) {
          const client = up.client;
          if (!client) return;
          if (up.remaining < 0) {
            up.head = join(up.head, chunk);
            const end = headEnd(up.head);
            if (end < 0) return;
            up.remaining = end + contentLength(up.head.subarray(0, end)) - up.head.length;
            client.write(up.head);
            up.head = new Uint8Array(0);
          } else {
            up.remaining -= chunk.length;
            client.write(chunk);
          }
          if (up.remaining <= 0) {
            up.client = undefined;
            up.remaining = -1;
            idle[up.index]?.push(up);
            client.data.busy = false;
            next(client);
          }
        },
        close() {
          const pool = idle[index] as Upstream[];
          const at = pool.indexOf(up);
          if (at >= 0) pool.splice(at, 1);
          up.client?.end();
        },
        connectError: (_socket, error) => reject(error),
      },
    });
  });
}

/** Sends the client's next whole request upstream, when it has one and none is running. */
async function next(client: Socket<Client>) {
  const state = client.data;
  if (state.busy) return;
  const end = headEnd(state.buffer);
  if (end < 0) return;
  const request = state.buffer.subarray(0, end);
  state.buffer = state.buffer.slice(end);
  state.busy = true;
  const index = turn++ % targets.length;
  const up = idle[index]?.pop() ?? (await connectUpstream(index));
  up.client = client;
  up.socket?.write(request);
}

const server = Bun.listen<Client>({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  socket: {
    open(socket) {
      socket.data = { buffer: new Uint8Array(0), busy: false };
    },
    data(socket, chunk) {
      socket.data.buffer = join(socket.data.buffer, chunk);
      void next(socket);
    },
  },
});
console.log(`listening on ${server.port}`);
