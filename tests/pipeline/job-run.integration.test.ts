import { expect, test } from "bun:test";
import type { FleetHost } from "../../pipeline/fleet.ts";
import { restingNow } from "../../pipeline/job-run.ts";
import { putBackend } from "../../server/shared/state/routing.ts";
import { connectTo, startRedis } from "../helpers/redis.ts";

// Where a scheduled run goes first, read from a real redis-server's routing table as the
// receiver reads it; and what it does when Redis does not answer.
const redis = await startRedis();
const state = await connectTo(redis);

const host = (name: string, address: string): FleetHost => ({
  name,
  role: "production",
  address,
  hostPublicKey: "ssh-ed25519 AAAA",
});
const hosts = [host("web-1", "10.0.0.5"), host("web-2", "10.0.0.6")];

test("the hosts out of the rotation are read from the routing table; with Redis gone, none, within seconds", async () => {
  for (const [id, url, draining] of [
    ["10.0.0.5:3000", "http://10.0.0.5:3000", false],
    ["10.0.0.6:3000", "http://10.0.0.6:3000", true],
  ] as const)
    await putBackend(state, { id, url, track: "production", draining }, "test");
  expect(await restingNow(state, hosts)).toEqual(new Set(["web-2"]));
  // put back in the rotation (as `bun run backends add` does): no host rests
  await putBackend(
    state,
    { id: "10.0.0.6:3000", url: "http://10.0.0.6:3000", track: "production", draining: false },
    "test",
  );
  expect(await restingNow(state, hosts)).toEqual(new Set());

  await redis.stop();
  const started = performance.now();
  expect(await restingNow(state, hosts)).toEqual(new Set());
  expect(performance.now() - started).toBeLessThan(10_000);
  await redis.start();
});
