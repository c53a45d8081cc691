import { afterAll, expect, test } from "bun:test";
import { backendIdFor } from "../../../server/shared/routing/model.ts";
import { putBackend } from "../../../server/shared/state/routing.ts";
import { addBackend, admin, startProxy } from "../../helpers/proxy.ts";
import { rawRequest, statusOf } from "../../helpers/raw.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually } from "../../helpers/server.ts";

/** An app with a WebSocket echo at /ws that names itself, and what each handshake carried. */
function startEchoApp(name: string) {
  const handshakes: Record<string, string>[] = [];
  const server = Bun.serve<{ name: string }>({
    port: 0,
    hostname: "127.0.0.1",
    fetch(request, server) {
      const path = new URL(request.url).pathname;
      if (path === "/healthz") return Response.json({ status: "ok", version: name });
      if (path === "/ws") {
        handshakes.push(Object.fromEntries(request.headers));
        const protocol = request.headers.get("sec-websocket-protocol")?.split(",")[0]?.trim();
        const headers = protocol ? { "sec-websocket-protocol": protocol } : undefined;
        if (server.upgrade(request, { data: { name }, headers })) return undefined;
      }
      return new Response(`${name} ${path}`);
    },
    websocket: {
      message(ws, message) {
        ws.send(typeof message === "string" ? `${ws.data.name}: ${message}` : message);
      },
    },
  });
  afterAll(() => server.stop(true));
  return { url: `http://127.0.0.1:${server.port}`, handshakes };
}

const redis = await startRedis();
const state = await connectTo(redis);
const production = startEchoApp("production-app");
const staging = startEchoApp("staging-app");
await addBackend(state, "production", production.url);
await addBackend(state, "staging", staging.url);
const proxy = await startProxy(
  redis,
  "health: { interval: 200ms, timeout: 1s }\nproxy: { drain_grace: 300ms }\n",
);
const wsUrl = `${proxy.url.replace("http", "ws")}/ws`;

/** A visitor's cookies that the split sends to `track`. */
async function visitorOn(track: string): Promise<string> {
  for (;;) {
    const response = await fetch(`${proxy.url}/`);
    if (response.headers.get("x-dropship-track") === track) {
      return response.headers
        .getSetCookie()
        .map((c) => c.split(";")[0])
        .join("; ");
    }
  }
}

function open(cookie?: string, protocols?: string[]) {
  const socket = new WebSocket(wsUrl, {
    headers: cookie ? { cookie, host: "shop.example" } : { host: "shop.example" },
    protocols,
  } as unknown as string[]);
  const messages: string[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason })),
  );
  socket.addEventListener("message", (e) => messages.push(String(e.data)));
  const opened = new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve());
    socket.addEventListener("error", () => reject(new Error("the WebSocket did not open")));
  });
  return { socket, messages, closed, opened };
}

async function inFlight(url: string): Promise<number> {
  const status = (await (
    await fetch(`${proxy.adminUrl}/_dropship/status`, { headers: admin })
  ).json()) as { backends: { url: string; inFlight: number }[] };
  return status.backends.find((b) => b.url === url)?.inFlight ?? -1;
}

test("the upgrade answers 101 with the track and backend, and the app sees the visitor's Host", async () => {
  const answer = await rawRequest(
    proxy.url,
    "GET /ws HTTP/1.1\r\nHost: shop.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nCookie: dropship_client=raw-visitor\r\n\r\n",
    // the handshake goes to the app and back before the 101: on a busy machine that took over
    // the default 250 ms of quiet, and the open connection gives no close to end the wait
    { quietMs: 2000 },
  );
  expect(statusOf(answer)).toBe(101);
  expect(answer.toLowerCase()).toContain("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=");
  expect(answer.toLowerCase()).toMatch(/x-dropship-track: (production|staging)/);
  const seen = [...production.handshakes, ...staging.handshakes].find(
    (h) => h.cookie === "dropship_client=raw-visitor",
  );
  expect(seen?.host).toBe("shop.example");
  expect(seen?.["x-forwarded-for"]).toBe("127.0.0.1");
});

test("messages echo both ways, text and binary, on the visitor's own track", async () => {
  for (const track of ["staging", "production"]) {
    const cookie = await visitorOn(track);
    for (let round = 0; round < 3; round++) {
      const ws = open(cookie, ["chat.v1"]);
      await ws.opened;
      expect(ws.socket.protocol).toBe("chat.v1");
      ws.socket.send("hello");
      ws.socket.send(new Uint8Array([1, 2, 3]));
      await eventually(async () => ws.messages.length === 2, 2_000, "two echoes");
      expect(ws.messages[0]).toBe(`${track}-app: hello`);
      ws.socket.close(1000);
      expect((await ws.closed).code).toBe(1000);
    }
  }
});

test("an open WebSocket counts as in flight; a closed one no longer does", async () => {
  const cookie = await visitorOn("production");
  const ws = open(cookie);
  await ws.opened;
  // with workers, the host's figures are their reports, five a second
  await eventually(async () => (await inFlight(production.url)) === 1, 2_000, "in flight 1");
  await Bun.sleep(500);
  expect(await inFlight(production.url)).toBe(1);
  ws.socket.close();
  await ws.closed;
  await eventually(async () => (await inFlight(production.url)) === 0, 2_000, "in flight 0");
});

test("a backend that refuses the upgrade gets the visitor a 502, and stays in rotation", async () => {
  const answer = await rawRequest(
    proxy.url,
    "GET /not-a-socket HTTP/1.1\r\nHost: shop.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  expect(statusOf(answer)).toBe(502);
  expect(answer).toContain("refused the WebSocket");
  expect((await fetch(`${proxy.url}/`)).status).toBe(200);
});

test("a WebSocket survives until its backend drains, then closes with 1001 after the grace", async () => {
  const cookie = await visitorOn("production");
  const ws = open(cookie);
  await ws.opened;
  ws.socket.send("still here");
  await eventually(async () => ws.messages.length === 1, 2_000, "an echo");
  const drainedAt = performance.now();
  await putBackend(
    state,
    { id: backendIdFor(production.url), url: production.url, track: "production", draining: true },
    "test",
  );
  const closed = await ws.closed;
  const after = performance.now() - drainedAt;
  expect(closed.code).toBe(1001);
  expect(closed.reason).toBe("the backend is draining");
  expect(after).toBeGreaterThan(250);
  expect(after).toBeLessThan(3_000);
  await eventually(async () => (await inFlight(production.url)) === 0, 2_000, "in flight 0");
});
