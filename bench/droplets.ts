/**
 * Droplets on the local emulator, timed: create → active → SSH-ready per droplet, the four
 * playbooks' first converge and second (no-change) run, and delivering a release whole and
 * then as a delta. Needs root (the emulator makes network namespaces).
 *
 *   bun bench/droplets.ts
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inventoryYaml } from "../gitops/inventory.ts";
import { runPlaybook } from "../server/shared/ansible.ts";
import { DigitalOcean, type Droplet } from "../server/shared/cloud/digitalocean.ts";
import { hostKeyUserData, knownHostsLine, makeHostKey } from "../server/shared/cloud/hostkeys.ts";
import type { RoleName } from "../server/shared/config/schema.ts";
import { deliverRelease } from "../server/shared/deliver.ts";
import { run } from "../server/shared/proc.ts";
import { Ssh } from "../server/shared/ssh.ts";
import { benchEmulator, cleanup, ROOT, workDir } from "./lib.ts";

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
try {
  const { token, apiUrl } = await benchEmulator();
  const provider = new DigitalOcean({ token, apiUrl });
  run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", join(workDir, "id")]);
  const account = {
    privateKey: readFileSync(join(workDir, "id"), "utf8"),
    publicKey: readFileSync(join(workDir, "id.pub"), "utf8"),
  };
  const key = await provider.ensureSshKey("bench", account.publicKey);

  const roles: [string, RoleName][] = [
    ["proxy-1", "proxy"],
    ["redis-1", "redis"],
    ["web-1", "production"],
    ["canary-1", "staging"],
  ];
  const hosts: {
    name: string;
    role: RoleName;
    droplet: Droplet;
    hostPublicKey: string;
    times: number[];
  }[] = [];
  console.log("| droplet | create → active | create → SSH ready |\n|---|---|---|");
  for (const [name, role] of roles) {
    const hostKey = makeHostKey(name);
    const started = performance.now();
    let droplet = await provider.createDroplet({
      name,
      region: "nyc3",
      size: "s-1vcpu-1gb",
      image: "debian-12-x64",
      sshKeys: [key.id],
      tags: ["bench"],
      userData: hostKeyUserData(hostKey),
    });
    droplet = await provider.waitActive(droplet, 30_000, 20);
    const active = performance.now() - started;
    const ssh = await Ssh.connect({
      host: droplet.ip as string,
      privateKey: account.privateKey,
      hostPublicKey: hostKey.publicKey,
    });
    await ssh.check("true");
    ssh.close();
    const ready = performance.now() - started;
    console.log(`| ${name} | ${seconds(active)} | ${seconds(ready)} |`);
    hosts.push({ name, role, droplet, hostPublicKey: hostKey.publicKey, times: [active, ready] });
  }

  mkdirSync(join(workDir, "ansible"), { recursive: true });
  const knownHosts = join(workDir, "ansible/known_hosts");
  writeFileSync(
    knownHosts,
    hosts
      .map((h) =>
        knownHostsLine(h.droplet.ip as string, { privateKey: "", publicKey: h.hostPublicKey }),
      )
      .join("\n"),
  );
  const inventory = join(workDir, "ansible/inventory.yml");
  writeFileSync(
    inventory,
    inventoryYaml(
      hosts.map((h) => ({ name: h.name, role: h.role, address: h.droplet.ip as string })),
      { privateKeyFile: join(workDir, "id"), knownHostsFile: knownHosts },
    ),
  );
  const redisIp = hosts[1]?.droplet.ip;
  const password = crypto.randomUUID().replaceAll("-", "");
  const env = {
    DROPSHIP_REDIS_PASSWORD: password,
    REDIS_URL: `redis://:${password}@${redisIp}:6379/0`,
    DROPSHIP_ADMIN_TOKEN: "bench-admin-token-0123456789",
  };
  const playbooks = {
    proxy: "proxy.yml",
    redis: "redis.yml",
    production: "product.yml",
    staging: "staging.yml",
  } as const;
  console.log(
    "\n| playbook (one host each, all four at once) | first converge | second run (no change) |\n|---|---|---|",
  );
  const timed = async () =>
    Promise.all(
      hosts.map(async (h) => {
        const started = performance.now();
        await runPlaybook(playbooks[h.role], inventory, env);
        return performance.now() - started;
      }),
    );
  const first = await timed();
  const second = await timed();
  for (const [i, h] of hosts.entries()) {
    console.log(
      `| ${playbooks[h.role]} on ${h.name} | ${seconds(first[i] ?? 0)} | ${seconds(second[i] ?? 0)} |`,
    );
  }

  const web = hosts[2] as (typeof hosts)[number];
  const ssh = await Ssh.connect({
    host: web.droplet.ip as string,
    privateKey: account.privateKey,
    hostPublicKey: web.hostPublicKey,
  });
  const options = {
    cacheDir: join(workDir, "cache"),
    restart: ["app"],
    healthUrl: `http://${web.droplet.ip}:3000/healthz`,
  };
  console.log("\n| delivery of dropship-app to web-1 | sent | time to healthy |\n|---|---|---|");
  for (const version of ["bench-1", "bench-2"]) {
    run([
      process.execPath,
      join(ROOT, "scripts/build.ts"),
      "--outdir",
      join(workDir, version),
      "--version",
      version,
    ]);
    const started = performance.now();
    const [report] = await deliverRelease(
      ssh,
      { version, binaries: [join(workDir, version, "dropship-app")] },
      options,
    );
    console.log(
      `| ${version} (${report?.mode}) | ${((report?.bytesSent ?? 0) / 1048576).toFixed(2)} MB | ${seconds(performance.now() - started)} |`,
    );
  }
  ssh.close();
} finally {
  await cleanup();
}
