import { afterAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HostInit } from "../../server/emulator/host-init.ts";
import { EMULATOR_NETWORK_VARIABLE } from "../../server/emulator/network.ts";
import { EMULATOR } from "../../server/emulator/this-network.ts";
import type { DigitalOcean, Droplet } from "../../server/shared/cloud/digitalocean.ts";
import { makeHostKey } from "../../server/shared/cloud/hostkeys.ts";
import { run } from "../../server/shared/proc.ts";
import { type RunningServer, startServer } from "./server.ts";

export interface TestEmulator extends RunningServer {
  readonly apiUrl: string;
  readonly token: string;
  readonly dir: string;
}

/**
 * The DigitalOcean emulator as its own process, with a token and a state dir of its own, on
 * this test process's emulator network.
 */
export async function startEmulator(
  ratePerMinute = 1000,
  init: HostInit = "systemd",
): Promise<TestEmulator> {
  const dir = mkdtempSync(join(tmpdir(), "dropship-emulator-"));
  const token = `dop_v1_${crypto.randomUUID().replaceAll("-", "")}`;
  const server = await startServer(
    "emulator",
    {
      DIGITALOCEAN_TOKEN: token,
      DROPSHIP_EMULATOR_DIR: dir,
      // the lane's network (npm test runs droplet files on two, one lane each)
      [EMULATOR_NETWORK_VARIABLE]: String(EMULATOR.network),
      DROPSHIP_EMULATOR_INIT: init,
    },
    {
      ready: /listening on/,
      timeoutMs: 15_000,
      args: (port) => ["--port", String(port), "--rate-limit", String(ratePerMinute)],
    },
  );
  // one hook, so the emulator has stopped before its directory goes: a stopping emulator saves
  // its state once more, which made the directory again when that was removed first
  afterAll(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);
  return { ...server, apiUrl: `${server.url}/v2`, token, dir };
}

/** An SSH key pair for the "account" (an ed25519 key made with ssh-keygen). */
export function userKey(): { privateKey: string; publicKey: string } {
  return makeHostKey("dropship-test");
}

export function namespaces(): string[] {
  return run(["ip", "netns", "list"])
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter(Boolean);
}

/** A small Debian droplet with these tags, once it is active (its sshd answers). */
export async function createActive(
  provider: DigitalOcean,
  keyId: number,
  name: string,
  tags: string[],
): Promise<Droplet> {
  const droplet = await provider.createDroplet({
    name,
    region: "nyc3",
    size: "s-1vcpu-1gb",
    image: "debian-12-x64",
    sshKeys: [keyId],
    tags,
  });
  return provider.waitActive(droplet, 15_000, 50);
}

/** The shell command that prints a dropship service's main pid on a droplet that boots systemd. */
export const mainPidOf = (service: string) =>
  `systemctl show -p MainPID --value dropship-${service}`;
