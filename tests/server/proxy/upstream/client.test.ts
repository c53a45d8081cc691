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
  const idleMs = 400;
  const client = new UpstreamClient({ connectTimeoutMs: 1_000, idleMs });
  const openedBefore = backend.opened.length;
  const closedBefore = backend.closed.length;
  try {
    expect(await get(client)).toEqual({ status: 200, body: "ok" });
    expect(await get(client)).toEqual({ status: 200, body: "ok" });
    const idleFrom = performance.now();
    expect(backend.opened.length - openedBefore).toBe(1);

    // the sweep runs twice within idleMs (every second for longer ones): the connection goes
    // at the first one past it
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

test("an upload says what it waits on: the visitor's next bytes, the backend's reading, or nothing", async () => {
  // a backend that takes the connection and reads nothing, so its socket fills
  const deaf = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.pause();
      },
      data() {},
    },
  });
  // a backend that answers once the head and a 20-byte body are in
  const patient = Bun.listen<{ got: string }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { got: "" };
      },
      data(socket, chunk) {
        socket.data.got += chunk.toString("latin1");
        const end = socket.data.got.indexOf("\r\n\r\n");
        if (end >= 0 && socket.data.got.length - end - 4 >= 20) socket.write(ANSWER);
      },
    },
  });
  const client = new UpstreamClient({ connectTimeoutMs: 1_000 });
  const send = (at: Origin, body: ReadableStream<Uint8Array>, length: number) =>
    client.send(at, {
      method: "POST",
      target: "/",
      head: { fields: ["content-length", String(length)], hasHost: false, hasLength: true },
      body,
    });
  try {
    // the visitor sends 10 bytes of 20, then nothing
    let more: ReadableStreamDefaultController<Uint8Array> | undefined;
    const stalled = send(
      { hostname: "127.0.0.1", port: patient.port, host: `127.0.0.1:${patient.port}` },
      new ReadableStream({
        start(controller) {
          more = controller;
          controller.enqueue(new Uint8Array(10));
        },
      }),
      20,
    );
    await Bun.sleep(100);
    expect(stalled.upload?.waitingOn).toBe("visitor");
    const movedAt = stalled.upload?.movedAt ?? 0;
    more?.enqueue(new Uint8Array(10));
    more?.close();
    expect((await stalled.answer).status).toBe(200);
    expect(stalled.upload?.waitingOn).toBe("done");
    expect(stalled.upload?.movedAt).toBeGreaterThan(movedAt);
    // 64 MiB for a backend that reads none of it
    const big = new Uint8Array(1024 * 1024);
    let sent = 0;
    const flooding = send(
      { hostname: "127.0.0.1", port: deaf.port, host: `127.0.0.1:${deaf.port}` },
      new ReadableStream({
        pull(controller) {
          if (sent++ < 64) controller.enqueue(big);
          else controller.close();
        },
      }),
      64 * big.length,
    );
    await Bun.sleep(300);
    expect(flooding.upload?.waitingOn).toBe("backend");
    expect(sent).toBeLessThan(64);
    flooding.cancel("test over");
    await flooding.answer.catch(() => undefined);
    // no body, no upload to watch
    const bodiless = client.send(origin, {
      method: "GET",
      target: "/",
      head: { fields: [], hasHost: false, hasLength: false },
      body: null,
    });
    expect(bodiless.upload).toBeUndefined();
    await bodiless.answer;
  } finally {
    client.close();
    deaf.stop(true);
    patient.stop(true);
  }
});
