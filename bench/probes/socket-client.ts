/**
 * A floor probe, not a product: Bun.serve in front, but the upstream side an HTTP/1.1
 * keep-alive client of its own on Bun.connect instead of fetch() — GET only, Content-Length
 * bodies only, no header work — to measure how much of the gap to nginx is fetch().
 */
import type { Socket } from "bun";

interface Conn {
  socket?: Socket<Conn>;
  upstream: number;
  buffer: Uint8Array;
  waiting?: { resolve: (r: Response) => void; reject: (e: Error) => void };
  closed: boolean;
}

const upstreams = (process.env.UPSTREAMS ?? "").split(",").map((u) => new URL(u));
const idle: Conn[][] = upstreams.map(() => []);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function headEnd(b: Uint8Array): number {
  for (let i = 3; i < b.length; i++)
    if (b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) return i + 1;
  return -1;
}

/** Answers the waiting request once a whole response is buffered; true when it did. */
function tryAnswer(c: Conn): boolean {
  const end = headEnd(c.buffer);
  if (end < 0 || !c.waiting) return false;
  const lines = decoder.decode(c.buffer.subarray(0, end)).split("\r\n");
  const status = Number(lines[0]?.slice(9, 12));
  const headers = new Headers();
  let length = 0;
  for (const line of lines.slice(1)) {
    if (!line) continue;
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "content-length") length = Number(value);
    if (name !== "connection" && name !== "keep-alive") headers.append(name, value);
  }
  if (c.buffer.length < end + length) return false;
  const body = c.buffer.slice(end, end + length);
  c.buffer = c.buffer.slice(end + length);
  const { resolve } = c.waiting;
  c.waiting = undefined;
  resolve(new Response(body, { status, headers }));
  return true;
}

function open(upstream: number): Promise<Conn> {
  const target = upstreams[upstream] as URL;
  const c: Conn = { upstream, buffer: new Uint8Array(0), closed: false };
  const gone = (error: Error) => {
    c.closed = true;
    const pool = idle[upstream] as Conn[];
    const at = pool.indexOf(c);
    if (at >= 0) pool.splice(at, 1);
    c.waiting?.reject(error);
  };
  return new Promise((resolve, reject) => {
    Bun.connect<Conn>({
      hostname: target.hostname,
      port: Number(target.port),
      data: c,
      socket: {
        open(socket) {
          c.socket = socket;
          resolve(c);
        },
        data(_socket, chunk) {
          const joined = new Uint8Array(c.buffer.length + chunk.length);
          joined.set(c.buffer);
          joined.set(chunk, c.buffer.length);
          c.buffer = joined;
          if (tryAnswer(c)) idle[upstream]?.push(c);
        },
        close: () => gone(new Error("upstream closed the connection")),
        error: (_socket, error) => gone(error),
        connectError: (_socket, error) => reject(error),
      },
    });
  });
}

let turn = 0;
const server = Bun.serve({
  port: Number(process.env.PORT ?? 0),
  hostname: "127.0.0.1",
  async fetch(request) {
    const url = request.url;
    const path = url.slice(url.indexOf("/", url.indexOf("//") + 2));
    const upstream = turn++ % upstreams.length;
    const c = idle[upstream]?.pop() ?? (await open(upstream));
    const answer = new Promise<Response>((resolve, reject) => {
      c.waiting = { resolve, reject };
    });
    let head = `GET ${path} HTTP/1.1\r\nhost: ${upstreams[upstream]?.host}\r\n`;
    request.headers.forEach((value, name) => {
      if (name !== "host" && name !== "connection") head += `${name}: ${value}\r\n`;
    });
    c.socket?.write(encoder.encode(`${head}\r\n`));
    return answer;
  },
});
console.log(`listening on ${server.port}`);
