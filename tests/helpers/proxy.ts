import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { childrenOf } from "../../server/shared/proc.ts";
import { backendIdFor, type Track } from "../../server/shared/routing/model.ts";
import type { RedisClient } from "../../server/shared/state/redis.ts";
import { putBackend } from "../../server/shared/state/routing.ts";
import { formatUsers, tokenHash } from "../../server/shared/users.ts";
import type { TestRedis } from "./redis.ts";
import { type RunningServer, startServer } from "./server.ts";
import { fileTempDir } from "./tmp.ts";

export const ADMIN_TOKEN = "test-admin-token-0123456789";
/** Named users of every test proxy (DROPSHIP_USERS_FILE), each with a token of their own. */
export const USER_TOKENS = { ann: "ann-token-0123456789abcdef", bob: "bob-token-0123456789abcdef" };
export const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

export async function addBackend(redis: RedisClient, track: Track, url: string) {
  await putBackend(redis, { id: backendIdFor(url), url, track, draining: false }, "test");
}

export interface RunningProxy extends RunningServer {
  /** the admin listener: dashboard, admin API, metrics */
  readonly adminUrl: string;
}

/** dropship-proxy as its own process, with a config of fast health checks unless given one. */
export async function startProxy(
  redis: TestRedis,
  config = "health: { interval: 200ms, timeout: 1s }\n",
  env: Record<string, string> = {},
  wrap: string[] = [],
): Promise<RunningProxy> {
  const dir = fileTempDir("dropship-proxy-");
  const file = join(dir, "dropship.yml");
  writeFileSync(file, config);
  const users = Object.entries(USER_TOKENS).map(([name, token]) => ({
    name,
    hash: tokenHash(token),
    added: "2026-11-30",
  }));
  writeFileSync(join(dir, "users"), formatUsers(users), { mode: 0o600 });
  // port 0: the proxy picks a free one and says which (two ports picked here could collide)
  const server = await startServer(
    "proxy",
    {
      REDIS_URL: redis.url,
      DROPSHIP_ADMIN_TOKEN: ADMIN_TOKEN,
      DROPSHIP_CONFIG: file,
      DROPSHIP_USERS_FILE: join(dir, "users"),
      DROPSHIP_ADMIN_PORT: "0",
      ...env,
    },
    { wrap },
  );
  const adminPort = /\(admin on :(\d+)\)/.exec(server.started)?.[1];
  if (!adminPort) throw new Error(`the proxy did not say its admin port:\n${server.started}`);
  return Object.assign(server, { adminUrl: `http://127.0.0.1:${adminPort}` });
}

/** A supervisor's workers: its children, from /proc. */
export const workersOf = childrenOf;

/** The pids holding established connections to the proxy's port, by ss. */
export function servingPids(port: number): Set<number> {
  const out = Bun.spawnSync([
    "ss",
    "-tnpH",
    "state",
    "established",
    `( sport = :${port} )`,
  ]).stdout.toString();
  return new Set([...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])));
}
