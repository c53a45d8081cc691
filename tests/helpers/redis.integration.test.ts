import { expect, test } from "bun:test";
import Redis from "ioredis";
import { startRedis } from "./redis.ts";

const redis = await startRedis();

test("the test redis-server needs its password and keeps data across a restart", async () => {
  const anonymous = new Redis({
    port: redis.port,
    host: "127.0.0.1",
    lazyConnect: true,
    retryStrategy: () => null,
  });
  const errors: Error[] = [];
  anonymous.on("error", (error) => errors.push(error));
  await expect(anonymous.connect()).rejects.toThrow();
  expect(errors.map((e) => e.message).join()).toContain("NOAUTH");

  const client = new Redis(redis.url, { maxRetriesPerRequest: 0 });
  client.on("error", () => {});
  await client.set("k", "v");
  client.options.enableOfflineQueue = false;
  await redis.stop();
  await expect(client.get("k")).rejects.toThrow();
  await redis.start();
  const fresh = new Redis(redis.url);
  expect(await fresh.get("k")).toBe("v");
  client.disconnect();
  fresh.disconnect();
});
