/**
 * git push prod master → every production host serving the new commit, on emulator hosts:
 * the total and its breakdown (install, check, test, build, per-host deliver/restart/health),
 * and the bytes shipped per host. Two pushes: the first ships whole binaries, the second —
 * after a one-line change to the app — ships deltas. Needs root (the emulator).
 *
 *   bun bench/push-to-live.ts
 */
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inventoryYaml } from "../gitops/inventory.ts";
import { freePort, startDaemon, waitForHttp } from "../scripts/lib/processes.ts";
import { runPlaybook } from "../server/shared/ansible.ts";
import { DigitalOcean } from "../server/shared/cloud/digitalocean.ts";
import { createHosts } from "../server/shared/cloud/provision.ts";
import { run } from "../server/shared/proc.ts";
import { benchEmulator, cleanup, ROOT, trackPid, workDir } from "./lib.ts";

const TOKEN = "bench-push-token-0123456789";
try {
  const { token: apiToken, apiUrl } = await benchEmulator();
  const provider = new DigitalOcean({ token: apiToken, apiUrl });
  run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", join(workDir, "id")]);
  const key = await provider.ensureSshKey("bench", readFileSync(join(workDir, "id.pub"), "utf8"));
  const specs = ["web-1", "web-2"].map((name) => ({
    name,
    region: "nyc3",
    size: "s-1vcpu-1gb",
    image: "debian-12-x64",
    sshKeys: [key.id],
    tags: [],
  }));
  const hosts = await createHosts(provider, specs, 20_000, 50);
  writeFileSync(join(workDir, "known_hosts"), hosts.map((h) => h.knownHost).join("\n"));
  const inventory = join(workDir, "inventory.yml");
  writeFileSync(
    inventory,
    inventoryYaml(
      hosts.map((h) => ({
        name: h.name,
        role: "production" as const,
        address: h.droplet.ip as string,
      })),
      { privateKeyFile: join(workDir, "id"), knownHostsFile: join(workDir, "known_hosts") },
    ),
  );
  await runPlaybook("product.yml", inventory, { REDIS_URL: "redis://:unused@10.77.0.1:1/0" });

  writeFileSync(
    join(workDir, "dropship.yml"),
    "pipeline:\n  test:\n    master: bun run test:unit\n",
  );
  const port = freePort();
  trackPid(
    startDaemon(
      [process.execPath, join(ROOT, "server/receiver/main.ts")],
      {
        PORT: String(port),
        HOST: "127.0.0.1",
        DROPSHIP_ADMIN_TOKEN: TOKEN,
        DROPSHIP_REPOS: join(workDir, "repos"),
        DROPSHIP_WORK: join(workDir, "work"),
        DROPSHIP_CONFIG: join(workDir, "dropship.yml"),
        DROPSHIP_INVENTORY: inventory,
      },
      join(workDir, "receiver.log"),
    ),
  );
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, 15_000, "receiver");

  const clone = join(workDir, "clone");
  run(["git", "clone", "-q", ROOT, clone]);
  const git = (...args: string[]) =>
    run(["git", "-C", clone, "-c", "user.name=Bench", "-c", "user.email=b@x", ...args]);
  const remote = `http://bench:${TOKEN}@127.0.0.1:${port}/app.git`;
  for (const label of [
    "first push (whole binaries; cold install cache)",
    "second push (one-line app change; deltas)",
  ]) {
    if (label.startsWith("second")) {
      const app = join(clone, "server/app/app.ts");
      writeFileSync(
        app,
        readFileSync(app, "utf8").replace("Hello from dropship", "Hi from dropship"),
      );
      git("commit", "-qam", "a one-line change");
    }
    const started = performance.now();
    const proc = Bun.spawnSync(["git", "-C", clone, "push", remote, "HEAD:master"], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const total = (performance.now() - started) / 1000;
    const output = proc.stdout.toString() + proc.stderr.toString();
    if (proc.exitCode !== 0) throw new Error(`push failed:\n${output}`);
    const steps = [...output.matchAll(/^remote: {3}(\S.*?)(?:: ok)? \((\d+\.\d) s\)\s*$/gm)].map(
      ([, name, s]) => `${name?.trim()} ${s} s`,
    );
    const shipped = [...output.matchAll(/remote: {3}\S+: shipped (\d+) KiB/g)].map(
      ([, kib]) => `${kib} KiB`,
    );
    console.log(`${label}: ${total.toFixed(1)} s push to live`);
    console.log(`  steps: ${steps.join(" · ")}`);
    console.log(`  shipped per host: ${shipped.join(", ")}`);
    appendFileSync(join(workDir, "push.log"), output);
  }
} finally {
  await cleanup();
}
