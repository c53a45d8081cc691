import { expect, test } from "bun:test";
import {
  type CertificateDeps,
  startCertificateManager,
} from "../../../server/receiver/certificates.ts";
import { eventually } from "../../helpers/server.ts";
import { settledWithin, stalledCall } from "../../helpers/stall.ts";

/**
 * A certificate manager whose round waits at the issuing lock until released; the lock is then
 * found held by another process, so the round ends there.
 */
function stalledManager() {
  const lock = stalledCall(() => null);
  const deps = {
    redis: { set: lock.call },
    tls: {
      domains: ["shop.test"],
      email: "ops@shop.test",
      acme_directory: "https://127.0.0.1:1/dir",
      certificate_file: "",
      key_file: "",
    },
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
