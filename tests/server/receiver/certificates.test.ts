import { expect, test } from "bun:test";
import { EventEmitter } from "node:events";
import {
  type CertificateDeps,
  startCertificateManager,
} from "../../../server/receiver/certificates.ts";
import { eventually } from "../../helpers/server.ts";
import { settledWithin, stalledCall } from "../../helpers/stall.ts";

/** A CA nobody answers at: no round here gets as far as asking it. */
const TLS = {
  domains: ["shop.test"],
  email: "ops@shop.test",
  acme_directory: "https://127.0.0.1:1/dir",
  certificate_file: "",
  key_file: "",
};

/**
 * A certificate manager whose round waits at the issuing lock until released; the lock is then
 * found held by another process, so the round ends there.
 */
function stalledManager() {
  const lock = stalledCall(() => null);
  const deps = {
    redis: { status: "ready", set: lock.call },
    tls: TLS,
    say: () => {},
  } as unknown as CertificateDeps;
  return { manager: startCertificateManager(deps, 5), lock };
}

test("stop resolves only once the round under way has ended, and no round starts after it", async () => {
  const { manager, lock } = stalledManager();
  await eventually(async () => lock.calls() > 0, 5000, "the first call");
  const stopping = manager.stop();
  // an order cut off here (its Redis let go) would spend an issuance and leave the lock held
  expect(await settledWithin(stopping, 50)).toBe(false);
  lock.release();
  await stopping;
  await Bun.sleep(30);
  expect(lock.calls()).toBe(1);
});

test("rounds go on at the interval until stopped", async () => {
  const { manager, lock } = stalledManager();
  lock.release();
  await eventually(async () => lock.calls() >= 3, 5000, "three rounds");
  await manager.stop();
  const after = lock.calls();
  await Bun.sleep(30);
  expect(lock.calls()).toBe(after);
});

test("a connection opened a moment ago is waited for: the first round runs once it is ready", async () => {
  // as ioredis without its offline queue: a command before the connection is up fails at once
  const redis = Object.assign(new EventEmitter(), {
    status: "connecting",
    set: async () => {
      if (redis.status !== "ready")
        throw new Error("Stream isn't writeable and enableOfflineQueue options is false");
      return null; // the issuing lock is another process's: the round ends there
    },
  });
  const said: string[] = [];
  const manager = startCertificateManager(
    {
      redis,
      tls: TLS,
      say: (line: string) => said.push(line),
    } as unknown as CertificateDeps,
    3_600_000,
  );
  await Bun.sleep(100);
  redis.status = "ready";
  redis.emit("ready");
  await manager.stop();
  expect(said).toEqual([]);
});
