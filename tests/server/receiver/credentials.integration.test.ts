import { expect, test } from "bun:test";
import { answerFrom, statusOf } from "../../helpers/raw.ts";
import { startReceiver } from "../../helpers/receiver.ts";

// Strangers guessing the push password, on raw sockets from loopback addresses of their own
// (127.0.0.2 guesses; 127.0.0.1 is the control host itself, or a TLS proxy on it).
const TOKEN = "credentials-token-0123456789";
const { receiver } = await startReceiver("pipeline: { repos: [app] }\n", TOKEN);
const REFS = "/app.git/info/refs?service=git-upload-pack";
const basic = (password: string) =>
  `Authorization: Basic ${Buffer.from(`ann:${password}`).toString("base64")}`;
const RIGHT = basic(TOKEN);

const send = (from: string, fields: string[] = []) =>
  answerFrom(
    receiver.port,
    from,
    `GET ${REFS} HTTP/1.1\r\nHost: control\r\n${fields.map((f) => `${f}\r\n`).join("")}Connection: close\r\n\r\n`,
  );

const lsRemote = () =>
  Bun.spawnSync(["git", "ls-remote", `http://ann:${TOKEN}@127.0.0.1:${receiver.port}/app.git`], {
    stderr: "pipe",
  });

test("ten wrong push passwords in a minute hold that address, right password or not; git on the control host still works", async () => {
  for (let i = 0; i < 10; i++)
    expect(statusOf(await send("127.0.0.2", [basic(`guess-${i}`)]))).toBe(401);
  const held = await send("127.0.0.2", [RIGHT]);
  expect(statusOf(held)).toBe(429);
  expect(held).toMatch(/\r\nretry-after: (60|59)\r\n/i);
  expect(held).toContain("10 wrong credentials came from this address within 60 s");
  expect(held).not.toContain("# service=git-upload-pack");
  const git = lsRemote();
  expect(git.stderr.toString()).toBe("");
  expect(git.exitCode).toBe(0);
  const log = receiver.stderr();
  expect(log).toContain(
    "dropship-receiver: 127.0.0.2 gave wrong push credentials 10 times within 60 s: refused for 60 s",
  );
  expect(log).not.toContain("guess-");
});

test("behind a TLS proxy on the control host the address it forwards is held, never the proxy", async () => {
  const via = (address: string) => `X-Forwarded-For: ${address}`;
  for (let i = 0; i < 10; i++) {
    expect(statusOf(await send("127.0.0.1", [via("198.51.100.7"), basic(`g${i}`)]))).toBe(401);
  }
  expect(statusOf(await send("127.0.0.1", [via("198.51.100.7"), RIGHT]))).toBe(429);
  expect(statusOf(await send("127.0.0.1", [via("198.51.100.8"), RIGHT]))).toBe(200);
  // the control host's own requests are never held, however many are wrong
  for (let i = 0; i < 12; i++)
    expect(statusOf(await send("127.0.0.1", [basic(`h${i}`)]))).toBe(401);
  expect(statusOf(await send("127.0.0.1", [RIGHT]))).toBe(200);
  expect(lsRemote().exitCode).toBe(0);
});
