import { expect, test } from "bun:test";
import { validateConfig } from "../../../server/shared/config/validate.ts";
import { changeFlag, listFlags } from "../../../server/shared/state/flags.ts";
import { KEYS } from "../../../server/shared/state/keys.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually, startServer } from "../../helpers/server.ts";

// A stranger may store messages through the app's /set (the seed's feature): each up to 1024
// characters for up to a day, under keys of their choosing. Without a limit they fill the Redis
// droplet until the kernel kills redis-server, and with it the flags, the audit and the deploys.
// The fleet's Redis is given redis/maxmemory, and redis/maxmemory_policy decides what gives way.

const MAXMEMORY_MB = 4;
/** Three times what the limit holds. */
const FILL = 12_000;
const defaults = validateConfig({});
if (!defaults.ok) throw new Error(defaults.errors.join("; "));
const DEFAULT_POLICY = defaults.config.redis.maxmemory_policy;

/** A Redis as the playbook sets it up (a smaller limit), the app on it, and dropship's state. */
async function fleetOf(policy: string) {
  const redis = await startRedis({
    args: ["--maxmemory", `${MAXMEMORY_MB}mb`, "--maxmemory-policy", policy],
  });
  const admin = await connectTo(redis);
  const app = await startServer("app", { REDIS_URL: redis.url, DROPSHIP_TRACK: "production" });
  for (const name of ["checkout", "search", "disableSET"])
    await changeFlag(admin, name, { enabled: name !== "disableSET", rollout: 50 }, "ann", "create");
  return { admin, app };
}

/**
 * `total` /set requests of 1000 characters kept for a day, on raw keep-alive connections as a
 * script would send them, each after the answer to the one before; answers how many got each
 * status.
 */
async function fill(port: number, prefix: string, total: number): Promise<Record<string, number>> {
  const value = "x".repeat(1000);
  const connections = 16;
  const statuses: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      let pending = 0;
      let text = "";
      let wake: (() => void) | undefined;
      const socket = await Bun.connect({
        hostname: "127.0.0.1",
        port,
        socket: {
          data(_socket, data) {
            text += data.toString("latin1");
            let read = 0;
            for (const match of text.matchAll(/HTTP\/1\.1 (\d{3}) /g)) {
              statuses[match[1] as string] = (statuses[match[1] as string] ?? 0) + 1;
              pending--;
              read = match.index + match[0].length;
            }
            // what follows the last status line may hold the start of the next
            text = text.slice(read);
            if (pending === 0) wake?.();
          },
        },
      });
      for (let i = 0; i < total / connections; i++) {
        pending = 1;
        const answered = new Promise<void>((resolve) => {
          wake = resolve;
        });
        socket.write(
          `GET /set?key=${prefix}-${c}-${i}&value=${value}&ttl=86400 HTTP/1.1\r\nHost: shop.test\r\n\r\n`,
        );
        await answered;
      }
      socket.end();
    }),
  );
  return statuses;
}

const memory = async (admin: Awaited<ReturnType<typeof connectTo>>) => {
  const info = `${await admin.info("memory")}\n${await admin.info("stats")}`;
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, "m").exec(info)?.[1]);
  return { used: field("used_memory"), evicted: field("evicted_keys") };
};

test(`by default (${DEFAULT_POLICY}) a stranger filling Redis through /set pushes out only what expires: the flags, the audit and the app go on`, async () => {
  const { admin, app } = await fleetOf(DEFAULT_POLICY);
  const flags = await listFlags(admin);
  const audited = await admin.xlen(KEYS.audit);
  const statuses = await fill(app.port, "fill", FILL);
  expect(statuses).toEqual({ "200": FILL });
  const { used, evicted } = await memory(admin);
  // Redis frees as it goes, so it may be a little over for a moment
  expect(used).toBeLessThanOrEqual(MAXMEMORY_MB * 1024 * 1024 * 1.05);
  expect(evicted).toBeGreaterThan(FILL / 2);
  // dropship's own state has no expiry, so none of it went
  expect(await listFlags(admin)).toEqual(flags);
  expect(await admin.xlen(KEYS.audit)).toBe(audited);
  // and it still changes: a person can still turn the stranger's /set off, and on again
  const setAnswers = (status: number) =>
    eventually(
      async () => (await fetch(`${app.url}/set?key=mine&value=hello`)).status === status,
      5000,
      `/set answering ${status}`,
    );
  await changeFlag(admin, "disableSET", { enabled: true, rollout: 100 }, "ann", "update");
  expect(await admin.xlen(KEYS.audit)).toBe(audited + 1);
  await setAnswers(403);
  await changeFlag(admin, "disableSET", { enabled: false, rollout: 100 }, "ann", "update");
  // a visitor's new message is stored and read back
  await setAnswers(200);
  expect(await (await fetch(`${app.url}/get?key=mine`)).text()).toBe("hello\n");
}, 60_000);

test("with noeviction the fill is refused instead: /set answers 503, and what was stored stays", async () => {
  const { admin, app } = await fleetOf("noeviction");
  const flags = await listFlags(admin);
  const statuses = await fill(app.port, "fill", FILL);
  expect(statuses["200"]).toBeGreaterThan(1000);
  expect(statuses["503"]).toBeGreaterThan(FILL / 2);
  expect(Object.keys(statuses).sort()).toEqual(["200", "503"]);
  const { used, evicted } = await memory(admin);
  expect(evicted).toBe(0);
  expect(used).toBeGreaterThan(MAXMEMORY_MB * 1024 * 1024 * 0.9);
  expect(await listFlags(admin)).toEqual(flags);
  // and dropship's own writes are refused too, with Redis's reason: why it is not the default
  await expect(
    changeFlag(admin, "disableSET", { enabled: true, rollout: 100 }, "ann", "update"),
  ).rejects.toThrow(/OOM command not allowed when used memory > 'maxmemory'/);
}, 60_000);
