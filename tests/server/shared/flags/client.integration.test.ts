import { afterAll, expect, test } from "bun:test";
import { FlagClient } from "../../../../server/shared/flags/client.ts";
import { changeFlag } from "../../../../server/shared/state/flags.ts";
import { freePort } from "../../../helpers/ports.ts";
import { connectTo, startRedis } from "../../../helpers/redis.ts";
import { eventually } from "../../../helpers/server.ts";

const server = await startRedis();
const admin = await connectTo(server);
const quiet = () => {};
const clients: FlagClient[] = [];
afterAll(async () => {
  for (const client of clients) await client.stop();
});

function client(
  url = server.url,
  extra: Partial<ConstructorParameters<typeof FlagClient>[0]> = {},
) {
  const made = new FlagClient({ redisUrl: url, log: quiet, ...extra });
  clients.push(made);
  return made;
}

test("a change reaches a running client over pub/sub", async () => {
  const flags = client();
  await flags.start();
  expect(flags.status().stale).toBe(false);
  expect(flags.isEnabled("pushed")).toBe(false);
  await changeFlag(admin, "pushed", { enabled: true, rollout: 100 }, "test", "create");
  const took = await eventually(async () => flags.isEnabled("pushed"), 2000, "pushed flag");
  expect(took).toBeLessThan(2000);
});

test("start-up waits a bounded time for Redis and serves the defaults meanwhile", async () => {
  const flags = client(`redis://:x@127.0.0.1:${freePort()}/0`, {
    startWaitMs: 300,
    defaults: { disableSET: { enabled: true, rollout: 100 } },
  });
  const started = performance.now();
  await flags.start();
  expect(performance.now() - started).toBeLessThan(2000);
  expect(flags.isEnabled("disableSET")).toBe(true);
  expect(flags.status()).toMatchObject({ stale: true, syncedAt: null });
});

test("while Redis is down the last values hold and are stale; afterwards it catches up", async () => {
  await changeFlag(admin, "survivor", { enabled: true, rollout: 100 }, "test", "create");
  const flags = client(server.url, { pollMs: 60_000 });
  await flags.start();
  expect(flags.isEnabled("survivor")).toBe(true);

  await server.stop();
  await eventually(async () => flags.status().stale, 3000, "stale after Redis stopped");
  expect(flags.isEnabled("survivor")).toBe(true);

  await server.start();
  await eventually(async () => !flags.status().stale, 5000, "fresh after Redis returned");
  await eventually(async () => admin.status === "ready", 5000, "admin reconnected");
  await changeFlag(admin, "survivor", { enabled: false, rollout: 100 }, "test", "update");
  await eventually(async () => !flags.isEnabled("survivor"), 2000, "change after the outage");
});

test("a change made while a client was cut off is picked up on reconnect", async () => {
  const flags = client(server.url, { pollMs: 60_000 });
  await flags.start();
  await changeFlag(admin, "missed", { enabled: false, rollout: 100 }, "test", "create");
  await eventually(async () => flags.get("missed") !== undefined, 2000, "missed flag known");
  // Cut the client's connections on the server side, change the flag, let it reconnect.
  await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
  await changeFlag(admin, "missed", { enabled: true, rollout: 100 }, "test", "update");
  await eventually(async () => flags.isEnabled("missed"), 3000, "missed change recovered");
});
