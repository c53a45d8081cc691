import { expect, test } from "bun:test";
import {
  type CertificateDeps,
  startCertificateManager,
} from "../../../server/receiver/certificates.ts";

/**
 * A certificate manager whose round waits, at the issuing lock, until `release` is called; the
 * lock is then found held by another process, so the round ends there.
 */
function stalledManager() {
  let rounds = 0;
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const redis = {
    set: async () => {
      rounds++;
      await released;
      return null;
    },
  };
  const deps = {
    redis,
    tls: {
      domains: ["shop.test"],
      email: "ops@shop.test",
      acme_directory: "https://127.0.0.1:1/dir",
      certificate_file: "",
      key_file: "",
    },
    say: () => {},
  } as unknown as CertificateDeps;
  const manager = startCertificateManager(deps, 5);
  return { manager, release, rounds: () => rounds };
}

test("stop resolves only once the round under way has ended, and no round starts after it", async () => {
  const { manager, release, rounds } = stalledManager();
  while (rounds() === 0) await Bun.sleep(5);
  let stopped = false;
  const stopping = manager.stop().then(() => {
    stopped = true;
  });
  await Bun.sleep(50);
  // an order cut off here (its Redis let go) would spend an issuance and leave the lock held
  expect(stopped).toBe(false);
  release();
  await stopping;
  await Bun.sleep(30);
  expect(rounds()).toBe(1);
});

test("rounds go on at the interval until stopped", async () => {
  const { manager, release, rounds } = stalledManager();
  release();
  while (rounds() < 3) await Bun.sleep(5);
  await manager.stop();
  const after = rounds();
  await Bun.sleep(30);
  expect(rounds()).toBe(after);
});
