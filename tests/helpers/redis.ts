import { afterAll } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { connectRedis, type RedisClient, whenReady } from "../../server/shared/state/redis.ts";
import { freePort } from "./ports.ts";
import { track, waitForLine } from "./processes.ts";

export interface TestRedis {
  /** `redis://:password@127.0.0.1:port/0` */
  readonly url: string;
  readonly port: number;
  readonly password: string;
  /** Stops the server (data kept on disk for start()). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  start(): Promise<void>;
}

/**
 * A real redis-server of this test file's own: a free loopback port, a password, an
 * append-only file in a temp dir so a restart keeps the data. Stopped after the file's tests.
 */
export async function startRedis(
  options: {
    bind?: string[];
    /** run with this ACL file (made from the password) instead of one password; url is control's */
    acl?: (password: string) => string;
    /** more of redis-server's settings, as arguments (`--maxmemory`, `8mb`) */
    args?: string[];
  } = {},
): Promise<TestRedis> {
  let port = freePort();
  const password = crypto.randomUUID().replaceAll("-", "");
  const dir = mkdtempSync(join(tmpdir(), "dropship-redis-"));
  const auth = options.acl ? ["--aclfile", join(dir, "users.acl")] : ["--requirepass", password];
  if (options.acl) writeFileSync(join(dir, "users.acl"), options.acl(password));
  let child: Subprocess<"ignore", "pipe", "inherit"> | undefined;

  const start = async () => {
    child = track(
      Bun.spawn(
        [
          "redis-server",
          "--port",
          String(port),
          "--bind",
          ...(options.bind ?? ["127.0.0.1"]),
          ...auth,
          "--dir",
          dir,
          "--save",
          "",
          "--appendonly",
          "yes",
          "--appendfsync",
          "always",
          "--loglevel",
          "notice",
          // as the fleet's: a replica's (or a backup's) copy starts at once, not after 5 s
          "--repl-diskless-sync-delay",
          "0",
          ...(options.args ?? []),
        ],
        { stdout: "pipe", stderr: "inherit" },
      ),
    );
    const started = child;
    // not left running when it never says so (see startServer)
    await waitForLine(started.stdout, /Ready to accept connections/, 10_000, "redis-server").catch(
      (error) => {
        started.kill("SIGKILL");
        throw error;
      },
    );
  };
  const stop = async () => {
    if (!child) return;
    child.kill("SIGTERM");
    await child.exited;
    child = undefined;
  };
  // the port freePort found may be taken before redis-server binds it (see startServer): the
  // first start tries another; a restart keeps its port, as a real server's address stays
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      break;
    } catch (error) {
      if (!/Address already in use/.test(String(error)) || attempt === 3) throw error;
      port = freePort();
    }
  }
  const server: TestRedis = {
    url: `redis://${options.acl ? "control" : ""}:${password}@127.0.0.1:${port}/0`,
    port,
    password,
    stop,
    start,
  };
  afterAll(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);
  return server;
}

/** A ready client of a test server, closed after the file's tests. */
export async function connectTo(server: TestRedis): Promise<RedisClient> {
  const client = connectRedis(server.url, { purpose: "test", persistent: true, log: () => {} });
  await whenReady(client, server.url, 5000);
  afterAll(() => client.disconnect());
  return client;
}
