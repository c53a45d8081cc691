import { afterAll, expect, test } from "bun:test";
import { changeFlag } from "../../../../server/shared/state/flags.ts";
import { KEYS } from "../../../../server/shared/state/keys.ts";
import { StateMirror } from "../../../../server/shared/state/mirror.ts";
import { connectTo, startRedis } from "../../../helpers/redis.ts";
import { eventually } from "../../../helpers/server.ts";

const redis = await startRedis();
const admin = await connectTo(redis);

/**
 * A relay to Redis that holds back what Redis says on one connection (the `slow`th it
 * accepts, from 1) for `holdMs`: a subscriber whose connection is slower than the commands'.
 */
function relay(slow: number, holdMs: number) {
  let accepted = 0;
  const { port } = new URL(redis.url);
  const server = Bun.listen<{ upstream?: Promise<Bun.Socket>; held: boolean }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        accepted += 1;
        client.data = { held: accepted === slow };
        if (client.data.held) setTimeout(() => (client.data.held = false), holdMs);
        const queued: Uint8Array[] = [];
        client.data.upstream = Bun.connect({
          hostname: "127.0.0.1",
          port: Number(port),
          socket: {
            async data(_upstream, bytes) {
              const copy = new Uint8Array(bytes);
              queued.push(copy);
              while (client.data.held) await Bun.sleep(5);
              const next = queued.shift();
              if (next) client.write(next);
            },
            close: () => {
              client.end();
            },
          },
        });
      },
      async data(client, bytes) {
        (await client.data.upstream)?.write(new Uint8Array(bytes));
      },
      async close(client) {
        (await client.data.upstream)?.end();
      },
    },
  });
  afterAll(() => server.stop(true));
  return redis.url.replace(`:${port}/`, `:${server.port}/`);
}

test("start() returns subscribed and read after it: never stale, a change made at once arrives", async () => {
  await admin.hset(KEYS.flags, "early", JSON.stringify({ name: "early", version: 1 }));
  // the commands' connection (made first) is ready at once; the subscriber's 400 ms later
  const mirror = new StateMirror({ redisUrl: relay(2, 400), hashes: [KEYS.flags], log: () => {} });
  afterAll(() => mirror.stop());
  await mirror.start();
  expect(mirror.status().stale).toBe(false);
  expect(mirror.get(KEYS.flags, "early")).toContain('"version":1');
  // no read comes for 30 s (the poll): only the subscription can bring it
  await changeFlag(admin, "late", { enabled: true, rollout: 100 }, "test", "create");
  await eventually(async () => mirror.get(KEYS.flags, "late") !== undefined, 2000, "the change");
});
