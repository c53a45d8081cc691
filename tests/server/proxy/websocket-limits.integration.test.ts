import { afterAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import type { Socket } from "bun";
import { TUNNEL_BUFFER } from "../../../server/proxy/websocket.ts";
import { addBackend, admin, startProxy } from "../../helpers/proxy.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually, expectLogged } from "../../helpers/server.ts";

// Neither side of a WebSocket tunnel can be paused, so each is bounded: a side that lets more
// than TUNNEL_BUFFER wait is cut off, and no one else notices.
const MIB = 1024 * 1024;
/** MiB a visitor sends a backend that reads nothing: past the bound and the buffers on the way */
const FLOOD = 3 * (TUNNEL_BUFFER / MIB);
/**
 * MiB the app offers a visitor who reads nothing: far more than the bound and every socket
 * buffer on the way (loopback's grow to several MiB each) hold, so the app is still sending
 * when the proxy cuts it off (at 3× the bound a CI run once saw all of it leave the app). The
 * app sends one MiB at a time, as fast as the proxy takes it.
 */
const APP_FLOOD = 64 * (TUNNEL_BUFFER / MIB);

/** An app whose /flood sends APP_FLOOD MiB as fast as the proxy takes them, and /ws echoes. */
function startFloodApp() {
  const closed: number[] = [];
  let sent = 0;
  const chunk = new Uint8Array(MIB);
  const pump = (ws: Bun.ServerWebSocket<{ flood: boolean }>) => {
    while (sent < APP_FLOOD) {
      if (ws.send(chunk) === -1) {
        sent++;
        return;
      }
      sent++;
    }
  };
  const server = Bun.serve<{ flood: boolean }>({
    port: 0,
    hostname: "127.0.0.1",
    fetch(request, server) {
      const path = new URL(request.url).pathname;
      if (path === "/healthz") return Response.json({ status: "ok", version: "flood" });
      if (server.upgrade(request, { data: { flood: path === "/flood" } })) return undefined;
      return new Response("not a socket", { status: 404 });
    },
    websocket: {
      open: (ws) => (ws.data.flood ? pump(ws) : undefined),
      drain: (ws) => (ws.data.flood ? pump(ws) : undefined),
      message: (ws, message) => {
        ws.send(message);
      },
      close: (_ws, code) => {
        closed.push(code);
      },
    },
  });
  afterAll(() => server.stop(true));
  return { url: `http://127.0.0.1:${server.port}`, closed, sent: () => sent };
}

/** An app that answers its health check and the WebSocket handshake, then reads nothing. */
function startDeafApp() {
  let upgraded: Socket<{ deaf: boolean }> | undefined;
  let closedAt = 0;
  const listener = Bun.listen<{ deaf: boolean }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open: (socket) => {
        socket.data = { deaf: false };
      },
      data(socket, bytes) {
        const head = bytes.toString("latin1");
        const key = /^sec-websocket-key: *(\S+)/im.exec(head)?.[1];
        if (!key) {
          const body = '{"status":"ok"}';
          socket.end(
            `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
          );
          return;
        }
        const accept = createHash("sha1")
          .update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
          .digest("base64");
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`,
        );
        socket.data.deaf = true;
        upgraded = socket;
        socket.pause();
      },
      close: (socket) => {
        if (socket.data?.deaf) closedAt = performance.now();
      },
    },
  });
  afterAll(() => listener.stop(true));
  return {
    url: `http://127.0.0.1:${listener.port}`,
    upgraded: () => upgraded !== undefined,
    resume: () => upgraded?.resume(),
    closed: () => closedAt > 0,
  };
}

const redis = await startRedis();
const state = await connectTo(redis);
const flood = startFloodApp();
const deaf = startDeafApp();
await addBackend(state, "production", flood.url);
await addBackend(state, "staging", deaf.url);
const proxy = await startProxy(redis, "health: { interval: 200ms, timeout: 1s }\n");
const wsUrl = `${proxy.url.replace("http", "ws")}`;

/** A visitor's cookies that the split sends to `track`. */
async function visitorOn(track: string): Promise<string> {
  for (;;) {
    const response = await fetch(`${proxy.url}/healthz`);
    if (response.headers.get("x-dropship-track") === track) {
      return response.headers
        .getSetCookie()
        .map((c) => c.split(";")[0])
        .join("; ");
    }
  }
}

async function inFlight(url: string): Promise<number> {
  const status = (await (
    await fetch(`${proxy.adminUrl}/_dropship/status`, { headers: admin })
  ).json()) as { backends: { url: string; inFlight: number }[] };
  return status.backends.find((b) => b.url === url)?.inFlight ?? -1;
}

/** Another visitor's echo on production: nothing the others do reaches it. */
async function echoes(): Promise<boolean> {
  const cookie = await visitorOn("production");
  const socket = new WebSocket(`${wsUrl}/ws`, { headers: { cookie } } as unknown as string[]);
  socket.binaryType = "arraybuffer";
  const echoed = new Promise<boolean>((resolve) => {
    socket.addEventListener("open", () => socket.send("still here"));
    socket.addEventListener("message", (e) => resolve(e.data === "still here"));
    socket.addEventListener("error", () => resolve(false));
    setTimeout(() => resolve(false), 5000);
  });
  const ok = await echoed;
  socket.close();
  return ok;
}

test("a visitor who reads nothing while the app sends is cut off once 16 MiB wait; others go on", async () => {
  const cookie = await visitorOn("production");
  let closed = false;
  let reading = false;
  let answer = "";
  const visitor = await Bun.connect({
    hostname: "127.0.0.1",
    port: proxy.port,
    socket: {
      data(socket, bytes) {
        // the 101, then nothing more is read
        if (answer === "") answer = bytes.subarray(0, 200).toString("latin1");
        if (!reading) socket.pause();
      },
      close() {
        closed = true;
      },
      error() {
        closed = true;
      },
    },
  });
  visitor.write(
    `GET /flood HTTP/1.1\r\nHost: shop.example\r\nCookie: ${cookie}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const said = "closed the WebSocket of 127.0.0.1: it read nothing while 16 MiB waited for it";
  await eventually(async () => proxy.stderr().includes(said), 15_000, "the proxy cutting it off");
  expect(answer).toStartWith("HTTP/1.1 101 ");
  // a paused socket hears of its close once it reads again
  reading = true;
  visitor.resume();
  await eventually(async () => closed, 5000, "the visitor's connection closed");
  // the app's side is closed too, as going away; it had more to send than ever left it
  await eventually(async () => flood.closed.length === 1, 5000, "the app's side closed");
  expect(flood.closed[0]).toBe(1001);
  expect(flood.sent()).toBeLessThan(APP_FLOOD);
  await eventually(async () => (await inFlight(flood.url)) === 0, 3000, "in flight 0");
  expect(await echoes()).toBe(true);
}, 30_000);

test("a backend that reads nothing while a visitor sends is cut off once 16 MiB wait; the visitor hears 1013", async () => {
  const cookie = await visitorOn("staging");
  const socket = new WebSocket(`${wsUrl}/deaf`, { headers: { cookie } } as unknown as string[]);
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason })),
  );
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve());
    socket.addEventListener("error", () => reject(new Error("the WebSocket did not open")));
  });
  expect(deaf.upgraded()).toBe(true);
  const chunk = new Uint8Array(MIB);
  for (let i = 0; i < FLOOD; i++) socket.send(chunk);
  expect(await closed).toEqual({
    code: 1013,
    reason: "the backend is not keeping up; try again later",
  });
  await expectLogged(
    () => proxy.stderr(),
    /closed the WebSocket of 127\.0\.0\.1: 127\.0\.0\.1:\d+ read nothing while 16 MiB waited for it/,
  );
  // a paused socket hears of its close once it reads again
  deaf.resume();
  await eventually(async () => deaf.closed(), 5000, "the backend's side dropped");
  await eventually(async () => (await inFlight(deaf.url)) === 0, 3000, "in flight 0");
  expect(await echoes()).toBe(true);
}, 30_000);
