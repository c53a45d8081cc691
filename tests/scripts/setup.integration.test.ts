// lane: droplets-1 — its droplets boot on emulator network 1, in a droplet lane of its own
import { expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { DigitalOcean } from "../../server/shared/cloud/digitalocean.ts";
import { startEmulator, userKey } from "../helpers/emulator.ts";
import { tempDir } from "../helpers/tmp.ts";

const ROOT = resolve(import.meta.dir, "../..");

// The real run, on droplets, is tests/guide.integration.test.ts: it follows docs/digitalocean.md
// through `bun run setup`, then checks on that fleet what setup promises (the firewalls,
// fleet.env, a second run that only completes) and the commands run on it.
test("bun run setup --dry-run plans the fleet and its cost, and finds a bad token or key before anything is made", async () => {
  const emulator = await startEmulator();
  const dir = tempDir("dropship-setup-");
  const account = userKey();
  writeFileSync(join(dir, "id"), account.privateKey, { mode: 0o600 });
  writeFileSync(join(dir, "id.pub"), account.publicKey);
  writeFileSync(
    join(dir, "dropship.yml"),
    `name: shop\nroles: { production: { count: 1 }, staging: { count: 0 } }\nautoscale: { min: 1 }\ngitops: { repo: ${join(dir, "inventory")} }\n`,
  );
  const env = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "/root",
    DROPSHIP_CONFIG: join(dir, "dropship.yml"),
    DIGITALOCEAN_TOKEN: emulator.token,
    DIGITALOCEAN_API_URL: emulator.apiUrl,
    DROPSHIP_ADMIN_TOKEN: "setup-admin-token-0123456789",
    DROPSHIP_REDIS_PASSWORD: "setup-redis-password-0123456789",
    DROPSHIP_SSH_KEY: join(dir, "id"),
    DROPSHIP_KNOWN_HOSTS: join(dir, "known_hosts"),
    DROPSHIP_WORK: join(dir, "work"),
  };
  const setupWith = (changes: Record<string, string>, ...args: string[]) => {
    const proc = Bun.spawnSync([process.execPath, join(ROOT, "scripts/setup.ts"), ...args], {
      cwd: ROOT,
      env: { ...env, ...changes },
      stdout: "pipe",
      stderr: "pipe",
    });
    return { code: proc.exitCode, out: proc.stdout.toString(), err: proc.stderr.toString() };
  };
  const setup = (...args: string[]) => setupWith({}, ...args);

  const plan = setup("--dry-run");
  expect(plan).toEqual({
    code: 0,
    out: `config: ${join(dir, "dropship.yml")} (DROPSHIP_CONFIG)\nto create: shop-proxy-1 (s-1vcpu-1gb), shop-redis-1 (s-1vcpu-1gb), shop-production-1 (s-1vcpu-1gb)\nfleet cost: $0.0268/h (~$18/month)\n✓ SSH key ${join(dir, "id")}\n✓ DIGITALOCEAN_TOKEN works (0 droplets tagged dropship)\n`,
    err: "",
  });
  // --dry-run already finds what a real run would fail on, and says what to do
  const badToken = setupWith({ DIGITALOCEAN_TOKEN: "not-the-token" }, "--dry-run");
  expect(badToken.code).toBe(1);
  expect(badToken.err).toContain(
    "dropship setup: DigitalOcean did not accept the request with DIGITALOCEAN_TOKEN",
  );
  expect(badToken.err).not.toContain("not-the-token");
  const noKey = setupWith({ DROPSHIP_SSH_KEY: join(dir, "missing") }, "--dry-run");
  expect(noKey.code).toBe(1);
  expect(noKey.err).toContain(`no SSH key pair at ${join(dir, "missing")}(.pub)`);
  writeFileSync(join(dir, "other.pub"), userKey().publicKey);
  writeFileSync(join(dir, "other"), account.privateKey, { mode: 0o600 });
  const mismatch = setupWith({ DROPSHIP_SSH_KEY: join(dir, "other") }, "--dry-run");
  expect(mismatch.code).toBe(1);
  expect(mismatch.err).toContain(
    `${join(dir, "other")}.pub is not the public half of ${join(dir, "other")}`,
  );
  // and nothing was made
  const provider = new DigitalOcean({ token: emulator.token, apiUrl: emulator.apiUrl });
  expect(await provider.listByTag("dropship")).toEqual([]);
  expect(existsSync(join(dir, "inventory"))).toBe(false);
}, 60_000);
