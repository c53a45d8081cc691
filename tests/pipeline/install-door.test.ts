import { afterAll, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { openInstallDoor, RELAY_PORT } from "../../pipeline/install-door.ts";
import { doorHosts } from "../../pipeline/install-door-rule.ts";

// The door on its own, as hostile install scripts would use it: raw bytes on its Unix socket.
// Beside it on loopback, a "registry" that echoes what it gets, and a port nobody listens on.
const echo = Bun.listen({
  hostname: "127.0.0.1",
  port: 0,
  socket: { data: (socket, data) => void socket.write(data) },
});
const closed = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: () => {} } });
const closedPort = closed.port;
closed.stop(true);
const said: string[] = [];
const door = await openInstallDoor(
  doorHosts([`127.0.0.1:${echo.port}`, `127.0.0.1:${closedPort}`]),
  (line) => said.push(line),
  { maxTunnels: 20, headTimeoutMs: 500 },
);
const dir = door.dir;
afterAll(async () => {
  await door.close();
  echo.stop(true);
});

/** Opens a connection to the door, sends `bytes`, and gives what came back once it closed (or after `waitMs`). */
function exchange(
  bytes: string | Buffer,
  waitMs = 3_000,
): Promise<{ got: string; ended: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(join(dir, "door.sock"));
    let got = "";
    const done = (ended: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ got, ended });
    };
    const timer = setTimeout(() => done(false), waitMs);
    socket.on("connect", () => socket.write(bytes));
    socket.on("data", (chunk) => (got += chunk));
    socket.on("close", () => done(true));
    socket.on("error", () => done(true));
  });
}

const held = (): Promise<Socket> =>
  new Promise((resolve) => {
    const socket = connect(join(dir, "door.sock"), () => resolve(socket));
  });

const tunnelWorks = async () => {
  const { got } = await exchange(`CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\n\r\nping`, 500);
  return got === "HTTP/1.1 200 Connection Established\r\n\r\nping";
};

test("the folder holds the relay the sandbox runs and a socket the build user may open", () => {
  expect(readFileSync(join(dir, "relay.mjs"), "utf8")).toContain("createServer");
  const socket = Bun.spawnSync(["stat", "-c", "%a %F", join(dir, "door.sock")]).stdout.toString();
  expect(socket.trim()).toBe("666 socket");
  expect(door.env.HTTPS_PROXY).toBe(`http://127.0.0.1:${RELAY_PORT}`);
  expect(door.wrap(["/opt/bun", "install"])).toEqual([
    "/opt/bun",
    "/run/dropship-door/relay.mjs",
    "/run/dropship-door/door.sock",
    String(RELAY_PORT),
    "/opt/bun",
    "install",
  ]);
});

test("a listed host is tunnelled both ways, with what was sent behind the CONNECT", async () => {
  expect(await tunnelWorks()).toBe(true);
});

test("hostile heads get a status and a sentence, and the door goes on serving", async () => {
  const cases: [string | Buffer, string][] = [
    [`CONNECT 127.0.0.1:1 HTTP/1.1\r\n\r\n`, "HTTP/1.1 403 Forbidden"],
    ["CONNECT 10.0.0.5:6379 HTTP/1.1\r\n\r\n", "HTTP/1.1 403 Forbidden"],
    ["GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 405 Method Not Allowed"],
    ["\r\n\r\n", "HTTP/1.1 405 Method Not Allowed"],
    [`CONNECT 127.0.0.1:${echo.port}@evil.test:443 HTTP/1.1\r\n\r\n`, "HTTP/1.1 405"],
    [Buffer.concat([Buffer.from("CONNECT "), Buffer.alloc(20_000, 0x41)]), "HTTP/1.1 431"],
    [Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x0d, 0x0a, 0x0d, 0x0a]), "HTTP/1.1 405"],
  ];
  for (const [bytes, status] of cases) {
    const { got, ended } = await exchange(bytes);
    expect(got).toStartWith(status);
    expect(got).toContain("pipeline/install_hosts");
    expect(ended).toBe(true);
  }
  expect(
    said.filter((line) => line.includes("refused a connection to 10.0.0.5:6379")),
  ).toHaveLength(1);
  expect(await tunnelWorks()).toBe(true);
});

test("a listed host that does not answer is a 502 naming it", async () => {
  const { got } = await exchange(`CONNECT 127.0.0.1:${closedPort} HTTP/1.1\r\n\r\n`);
  expect(got).toStartWith("HTTP/1.1 502 Bad Gateway");
  expect(got).toContain(`install: 127.0.0.1:${closedPort} could not be reached (ECONNREFUSED)`);
});

test("a connection that never finishes its head is closed; one too many is refused", async () => {
  // silent and slow: closed after the head's time, with nothing said to it
  const silent = await exchange("CONNECT 127.0.0.1", 3_000);
  expect(silent).toEqual({ got: "", ended: true });
  // the most connections at once, held open: the next is refused, then served once they go
  const holding = await Promise.all(Array.from({ length: 20 }, held));
  const over = await exchange(`CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\n\r\n`);
  expect(over.got).toStartWith("HTTP/1.1 503 Service Unavailable");
  expect(over.got).toContain("more than 20 connections");
  for (const socket of holding) socket.destroy();
  await Bun.sleep(100);
  expect(await tunnelWorks()).toBe(true);
});

test("refused connections that never read their answer nor close are cut, and free their places", async () => {
  const deaf = await Promise.all(
    Array.from({ length: 20 }, async () => {
      const socket = await held();
      socket.pause();
      socket.write("GET / HTTP/1.1\r\n\r\n");
      return socket;
    }),
  );
  await Bun.sleep(2_500);
  expect(await tunnelWorks()).toBe(true);
  for (const socket of deaf) socket.destroy();
});

test("closing the door ends its tunnels and removes its folder", async () => {
  const other = await openInstallDoor(doorHosts([`127.0.0.1:${echo.port}`]), () => {});
  const socket = connect(join(other.dir, "door.sock"));
  socket.resume(); // read what comes, so that its end is seen
  const ended = new Promise<boolean>((resolve) => socket.on("close", () => resolve(true)));
  socket.write(`CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\n\r\n`);
  await Bun.sleep(200);
  await other.close();
  expect(await ended).toBe(true);
  expect(existsSync(other.dir)).toBe(false);
});
