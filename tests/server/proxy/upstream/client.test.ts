import { afterAll, expect, test } from "bun:test";
import { type Origin, UpstreamClient } from "../../../../server/proxy/upstream/client.ts";

const ANSWER = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

/** A backend on raw sockets that answers every request head and notes when its connections go. */
const backend = (() => {
  const opened: number[] = [];
  const closed: number[] = [];
  const listener = Bun.listen<{ buffered: string }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { buffered: "" };
        opened.push(performance.now());
      },
      data(socket, chunk) {
        socket.data.buffered += chunk.toString("latin1");
        while (socket.data.buffered.includes("\r\n\r\n")) {
          const end = socket.data.buffered.indexOf("\r\n\r\n") + 4;
          socket.data.buffered = socket.data.buffered.slice(end);
          socket.write(ANSWER);
        }
      },
      close() {
        closed.push(performance.now());
      },
    },
  });
  return { listener, opened, closed };
})();
afterAll(() => backend.listener.stop(true));

const origin: Origin = {
  hostname: "127.0.0.1",
  port: backend.listener.port,
  host: `127.0.0.1:${backend.listener.port}`,
};

async function get(client: UpstreamClient) {
  const exchange = client.send(origin, {
    method: "GET",
    target: "/",
    head: { fields: [], hasHost: false, hasLength: false },
    body: null,
  });
  const answer = await exchange.answer;
  return { status: answer.status, body: Buffer.from(answer.body as Uint8Array).toString() };
}

test("a kept-alive connection is used again, and closed once idle past idleMs, not before", async () => {
  const idleMs = 1_500;
  const client = new UpstreamClient({ connectTimeoutMs: 1_000, idleMs });
  const openedBefore = backend.opened.length;
  const closedBefore = backend.closed.length;
  try {
    expect(await get(client)).toEqual({ status: 200, body: "ok" });
    expect(await get(client)).toEqual({ status: 200, body: "ok" });
    const idleFrom = performance.now();
    expect(backend.opened.length - openedBefore).toBe(1);

    // the sweep runs every second: the connection goes at the first one past idleMs
    const deadline = idleFrom + idleMs + 5_000;
    while (backend.closed.length === closedBefore && performance.now() < deadline) {
      await Bun.sleep(50);
    }
    expect(backend.closed.length - closedBefore).toBe(1);
    // the connection went idle a moment before the answer reached this test: a few ms of slack
    expect((backend.closed.at(-1) as number) - idleFrom).toBeGreaterThan(idleMs - 5);
  } finally {
    client.close();
  }
});
