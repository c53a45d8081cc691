import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  admitted,
  DOOR_MOUNT,
  type DoorHost,
  readConnectLine,
  refusalSentence,
} from "./install-door-rule.ts";
import relaySource from "./install-relay.mjs" with { type: "text" };

/** The relay's port on the sandbox's own loopback: HTTPS_PROXY for the install. */
export const RELAY_PORT = 3128;
const SOCKET = "door.sock";
const RELAY = "relay.mjs";
/** A proxy request's head: a CONNECT line and a few fields. */
const MAX_HEAD = 8 * 1024;
const CONNECT_TIMEOUT_MS = 15_000;

export interface DoorBounds {
  /** connections at once: Bun's install opens tens; past these, one more is refused (503) */
  maxTunnels: number;
  /** a connection that has not sent its CONNECT within this is closed */
  headTimeoutMs: number;
}
const DOOR_BOUNDS: DoorBounds = { maxTunnels: 256, headTimeoutMs: 10_000 };

/** How long a refused connection is given to read its answer before it is cut. */
const LINGER_MS = 2_000;

/** A short answer, and the connection closed: the relay passes it to the install as it is. */
function answer(visitor: Socket, status: string, sentence: string): void {
  const body = `${sentence}\n`;
  visitor.end(
    `HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  // one that never reads it nor closes would hold its place among the tunnels for good
  setTimeout(() => visitor.destroy(), LINGER_MS).unref();
}

export interface InstallDoor {
  /** the folder to bind at DOOR_MOUNT */
  dir: string;
  /** what the install step runs: the relay, which runs `argv` once it listens */
  wrap(argv: string[]): string[];
  /** the variables that send the install's requests to the relay */
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * The install's only way out of its sandbox: a Unix socket in a folder of its own that takes HTTP CONNECTs
 * to the configured registries and refuses everything else, saying so once a host. The
 * sandbox has no network of its own; the relay inside carries its loopback port here.
 */
export async function openInstallDoor(
  hosts: readonly DoorHost[],
  say: (line: string) => void,
  bounds: DoorBounds = DOOR_BOUNDS,
): Promise<InstallDoor> {
  const { maxTunnels, headTimeoutMs } = bounds;
  // in the temporary folder: a Unix socket's path may not be longer than 107 bytes, and a work
  // folder's may be
  const dir = mkdtempSync(join(tmpdir(), "dropship-door-"));
  // the build user reaches it through the bind mount: the folder's own mode is what it sees
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, RELAY), relaySource, { mode: 0o644 });
  const said = new Set<string>();
  const refuse = (visitor: Socket, status: string, sentence: string) => {
    if (!said.has(sentence)) {
      said.add(sentence);
      say(`  ${sentence}`);
    }
    answer(visitor, status, sentence);
  };
  /** every socket, both sides of each tunnel: closed with the door */
  const open = new Set<Socket>();
  let visitors = 0;
  const server = createServer((visitor) => {
    open.add(visitor);
    visitors += 1;
    visitor.on("close", () => {
      open.delete(visitor);
      visitors -= 1;
    });
    visitor.on("error", () => visitor.destroy());
    if (visitors > maxTunnels) {
      refuse(
        visitor,
        "503 Service Unavailable",
        `install: more than ${maxTunnels} connections to the registries at once; the others were refused`,
      );
      return;
    }
    let head = Buffer.alloc(0);
    const timer = setTimeout(() => visitor.destroy(), headTimeoutMs);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) {
        if (head.length > MAX_HEAD) {
          clearTimeout(timer);
          visitor.off("data", onData);
          refuse(
            visitor,
            "431 Request Header Fields Too Large",
            refusalSentence({ fault: `a request head over ${MAX_HEAD} bytes` }, hosts),
          );
        }
        return;
      }
      clearTimeout(timer);
      visitor.off("data", onData);
      visitor.pause();
      const line = head.subarray(0, head.indexOf("\r\n")).toString("latin1");
      const ask = readConnectLine(line);
      if ("fault" in ask)
        return refuse(visitor, "405 Method Not Allowed", refusalSentence(ask, hosts));
      if (!admitted(ask, hosts))
        return refuse(visitor, "403 Forbidden", refusalSentence(ask, hosts));
      tunnel(visitor, ask, head.subarray(end + 4));
    };
    visitor.on("data", onData);
  });
  const tunnel = (visitor: Socket, ask: DoorHost, early: Buffer) => {
    const registry = connect({ host: ask.host, port: ask.port, timeout: CONNECT_TIMEOUT_MS });
    open.add(registry);
    let connected = false;
    registry.on("close", () => {
      open.delete(registry);
      if (connected) visitor.destroy();
    });
    visitor.on("close", () => registry.destroy());
    registry.once("timeout", () => registry.destroy(new Error("no answer in 15 s")));
    registry.on("error", (error: NodeJS.ErrnoException) => {
      if (!connected)
        answer(
          visitor,
          "502 Bad Gateway",
          `install: ${ask.host}:${ask.port} could not be reached (${error.code ?? error.message})`,
        );
    });
    registry.once("connect", () => {
      connected = true;
      registry.setTimeout(0);
      // a TLS handshake's small writes, relayed: Nagle's wait would add a round trip to each
      registry.setNoDelay(true);
      visitor.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (early.length > 0) registry.write(early);
      visitor.pipe(registry);
      registry.pipe(visitor);
      visitor.resume();
    });
  };
  const socket = join(dir, SOCKET);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socket, () => resolve());
  });
  chmodSync(socket, 0o666);
  const proxy = `http://127.0.0.1:${RELAY_PORT}`;
  return {
    dir,
    wrap: (argv) => [
      argv[0] as string,
      `${DOOR_MOUNT}/${RELAY}`,
      `${DOOR_MOUNT}/${SOCKET}`,
      String(RELAY_PORT),
      ...argv,
    ],
    env: { HTTPS_PROXY: proxy, HTTP_PROXY: proxy, https_proxy: proxy, http_proxy: proxy },
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of open) socket.destroy();
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
