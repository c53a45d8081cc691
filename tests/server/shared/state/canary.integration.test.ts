import { expect, test } from "bun:test";
import { readAudit } from "../../../../server/shared/state/audit.ts";
import { changeCanary, ensureCanary, readCanary } from "../../../../server/shared/state/routing.ts";
import { connectTo, startRedis } from "../../../helpers/redis.ts";

// A fleet whose canary/weight is not the built-in 30%: before any canary is written the proxies
// route canary/weight, so every reader and every change must start from it too.
const server = await startRedis();
const redis = await connectTo(server);

test("a new fleet's canary is at canary/weight: read, seeded once by setup, kept through an abort and its resume", async () => {
  expect((await readCanary(redis, 10)).weight).toBe(10);

  expect(await ensureCanary(redis, { weight: 10, release: "3f9c2a7d1e04-canary" }, "setup")).toBe(
    true,
  );
  // named after what staging was set up with, as a push names its canary
  expect(await readCanary(redis)).toMatchObject({
    weight: 10,
    state: "active",
    generation: "3f9c2a7d1e04-canary",
    reason: "canary 3f9c2a7d1e04-canary set up",
  });
  // a stored canary is left as it is, whatever the config says now
  expect(await ensureCanary(redis, { weight: 20, release: "later" }, "setup")).toBe(false);
  expect((await readCanary(redis)).generation).toBe("3f9c2a7d1e04-canary");

  await changeCanary(redis, { state: "aborted", reason: "by ann" }, "ann");
  const { now } = await changeCanary(redis, { state: "active", reason: "resumed by ann" }, "ann");
  expect(now.weight).toBe(10);

  const audit = await readAudit(redis, { kind: "canary", limit: 10 });
  expect(audit.map((entry) => entry.actor)).toEqual(["ann", "ann", "setup"]);
});
