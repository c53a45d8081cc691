import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { PER_ADDRESS } from "../../../server/receiver/front.ts";
import { statusOf } from "../../helpers/raw.ts";
import { eventually, startServer } from "../../helpers/server.ts";
import { fileTempDir } from "../../helpers/tmp.ts";

// Strangers holding the receiver's connections open, on raw sockets from loopback addresses of
// their own (127.0.0.2 and .5 are strangers, .4 a teammate; 127.0.0.1 is the control host).
const dir = fileTempDir();
const TOKEN = "connections-token-0123456789";
writeFileSync(join(dir, "dropship.yml"), "pipeline: { repos: [app] }\n");
const receiver = await startServer("receiver", {
  DROPSHIP_ADMIN_TOKEN: TOKEN,
  DROPSHIP_REPOS: join(dir, "repos"),
  DROPSHIP_WORK: join(dir, "work"),
  DROPSHIP_GITOPS_REPO: join(dir, "inventory"),
  DROPSHIP_CONFIG: join(dir, "dropship.yml"),
});

interface Held {
  socket: net.Socket;
  received(): string;
  closed(): boolean;
}

function hold(from: string, first?: string): Promise<Held> {
  return new Promise((resolve) => {
    let received = "";
    let closed = false;
    const socket = net.connect({ host: "127.0.0.1", port: receiver.port, localAddress: from });
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

const HEALTH = "GET /healthz HTTP/1.1\r\nHost: control\r\nConnection: close\r\n\r\n";
const REFS = `GET /app.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: control\r\nAuthorization: Basic ${Buffer.from(`ann:${TOKEN}`).toString("base64")}\r\nConnection: close\r\n\r\n`;

async function answer(from: string, request = HEALTH): Promise<string> {
  const held = await hold(from, request);
  await eventually(async () => held.closed(), 5000, `an answer to ${from}`);
  return held.received();
}

test("one address holds at most PER_ADDRESS connections; the next is closed at once, and others are served", async () => {
  const idle: Held[] = [];
  for (let i = 0; i < PER_ADDRESS; i++) idle.push(await hold("127.0.0.2"));
  const over = await hold("127.0.0.2", HEALTH);
  await eventually(async () => over.closed(), 2000, "the connection over the limit closed");
  expect(over.received()).toBe("");
  for (const held of idle) expect(held.closed()).toBe(false);
  // a teammate pushes meanwhile
  const refs = await answer("127.0.0.4", REFS);
  expect(statusOf(refs)).toBe(200);
  expect(refs).toContain("# service=git-upload-pack");
  // logged with the address (rate-limited, as every refusal)
  expect(receiver.stderr()).toContain(
    `dropship-receiver: 429 to 127.0.0.2: a connection turned away: This address has ${PER_ADDRESS} connections open to the receiver already`,
  );
  // one closed, one more may come
  idle.pop()?.socket.destroy();
  await Bun.sleep(100);
  expect(statusOf(await answer("127.0.0.2"))).toBe(200);
  for (const held of idle) held.socket.destroy();
});

test("the control host itself is not held to an address's share (a TLS proxy there carries everyone)", async () => {
  const idle: Held[] = [];
  for (let i = 0; i < PER_ADDRESS + 8; i++) idle.push(await hold("127.0.0.1"));
  expect(statusOf(await answer("127.0.0.1"))).toBe(200);
  for (const held of idle) expect(held.closed()).toBe(false);
  for (const held of idle) held.socket.destroy();
});

test("a connection that sends nothing is closed after 10 s; one that forges a PROXY header at once", async () => {
  const silent = await hold("127.0.0.5");
  const forged = await hold("127.0.0.5", "PROXY TCP4 198.51.100.9 127.0.0.1 5555 9000\r\n");
  await eventually(async () => forged.closed(), 2000, "the forged header's connection closed");
  expect(forged.received()).toBe("");
  await Bun.sleep(8_000);
  expect(silent.closed()).toBe(false);
  await eventually(async () => silent.closed(), 8000, "the silent connection closed");
}, 25_000);
