import { expect, test } from "bun:test";
import { PER_ADDRESS } from "../../../server/receiver/front.ts";
import { answerFrom, type Held, holdOpen, statusOf } from "../../helpers/raw.ts";
import { receiverThatStops, startReceiver } from "../../helpers/receiver.ts";
import { eventually, expectLogged } from "../../helpers/server.ts";

// Strangers holding the receiver's connections open, on raw sockets from loopback addresses of
// their own (127.0.0.2 and .5 are strangers, .4 a teammate; 127.0.0.1 is the control host).
const TOKEN = "connections-token-0123456789";
const { receiver } = await startReceiver("pipeline: { repos: [app] }\n", TOKEN);
const hold = (from: string, first?: string) => holdOpen(receiver.port, from, first);

const HEALTH = "GET /healthz HTTP/1.1\r\nHost: control\r\nConnection: close\r\n\r\n";
const REFS = `GET /app.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: control\r\nAuthorization: Basic ${Buffer.from(`ann:${TOKEN}`).toString("base64")}\r\nConnection: close\r\n\r\n`;

const answer = (from: string, request = HEALTH) => answerFrom(receiver.port, from, request);

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
  await expectLogged(
    () => receiver.stderr(),
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

test("a second receiver on the same port does not start beside the first: it says the port is held", () => {
  // SO_REUSEPORT would let it share the port, and its autoscaler and healer run twice
  const second = receiverThatStops("pipeline: { repos: [app] }\n", TOKEN, receiver.port);
  expect(second.code).toBe(1);
  expect(second.stderr).toContain(
    `dropship-receiver: cannot listen on 127.0.0.1:${receiver.port} (`,
  );
  expect(second.stderr).toContain(
    "another receiver, or another program, holds the port — stop it, or set PORT to a free one",
  );
});
