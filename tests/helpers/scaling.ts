import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { InventoryRepo } from "../../gitops/repo.ts";
import { recordShipped, releaseDir } from "../../pipeline/deploy.ts";
import type { ScaleDeps } from "../../pipeline/scale.ts";
import { EMULATOR } from "../../server/emulator/this-network.ts";
import { DigitalOcean } from "../../server/shared/cloud/digitalocean.ts";
import { validateConfig } from "../../server/shared/config/validate.ts";
import { type Mail, Mailer } from "../../server/shared/mailer.ts";
import { startEmulator, userKey } from "./emulator.ts";
import { startProxy } from "./proxy.ts";
import { connectTo, startRedis } from "./redis.ts";
import { startSmtp } from "./smtp.ts";
import { fileTempDir } from "./tmp.ts";

const ROOT = resolve(import.meta.dir, "../..");

/**
 * What scaling and healing tests share: the emulator, a real Redis the droplets reach on the
 * public network, a proxy routing from it, an SMTP server, an account key, the inventory repo,
 * and a production release "rel-1" built and recorded as shipped, as a push would leave it.
 */
export async function scalingFixture(prefix: string, settings: Record<string, unknown>) {
  const emulator = await startEmulator();
  const redis = await startRedis({ bind: ["127.0.0.1", EMULATOR.public.gateway] });
  const state = await connectTo(redis);
  const proxy = await startProxy(redis);
  const dir = fileTempDir(prefix);
  const account = userKey();
  writeFileSync(join(dir, "id"), account.privateKey, { mode: 0o600 });
  writeFileSync(join(dir, "known_hosts"), "");
  const checked = validateConfig(settings);
  if (!checked.ok) throw new Error(checked.errors.join("\n"));
  const provider = new DigitalOcean({ token: emulator.token, apiUrl: emulator.apiUrl });
  const repo = new InventoryRepo(join(dir, "inventory"));
  const lines: string[] = [];
  const smtp = await startSmtp();
  const mailer = new Mailer({
    smtpUrl: smtp.url,
    from: "dropship@test",
    to: "ops@example.com",
    log: (line) => lines.push(line),
    retryMs: 100,
  });
  const deps: ScaleDeps = {
    config: checked.config,
    provider,
    repo,
    redis: state,
    privateKeyFile: join(dir, "id"),
    privateKey: account.privateKey,
    publicKey: account.publicKey,
    knownHostsFile: join(dir, "known_hosts"),
    workDir: join(dir, "work"),
    playbookEnv: { REDIS_URL: redis.url.replace("127.0.0.1", EMULATOR.public.gateway) },
    say: (line: string) => lines.push(line),
    notify: (mail: Mail) => mailer.send(mail),
  };
  mkdirSync(releaseDir(deps.workDir, "rel-1"), { recursive: true });
  const built = Bun.spawnSync(
    [
      process.execPath,
      join(ROOT, "scripts/build.ts"),
      "--outdir",
      releaseDir(deps.workDir, "rel-1"),
      "--version",
      "rel-1",
    ],
    { env: { ...process.env, DROPSHIP_BUILD_SERVERS: "proxy,app,monitor" } },
  );
  if (built.exitCode !== 0)
    throw new Error(`the release did not build: ${built.stderr.toString()}`);
  recordShipped(deps.workDir, "production", "rel-1");
  const subjects = () => smtp.mails.map((m) => m.subject ?? "");
  return {
    emulator,
    redis,
    state,
    proxy,
    dir,
    account,
    provider,
    repo,
    lines,
    smtp,
    mailer,
    subjects,
    deps,
    config: checked.config,
  };
}
