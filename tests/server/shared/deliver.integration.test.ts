// lane: droplets-1 — its droplets boot on emulator network 1, in a droplet lane of its own
import { expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { inventoryYaml } from "../../../gitops/inventory.ts";
import { EMULATOR } from "../../../server/emulator/this-network.ts";
import { runPlaybook } from "../../../server/shared/ansible.ts";
import { DigitalOcean } from "../../../server/shared/cloud/digitalocean.ts";
import {
  hostKeyUserData,
  knownHostsLine,
  makeHostKey,
} from "../../../server/shared/cloud/hostkeys.ts";
import { deliverRelease, stageRelease, switchRelease } from "../../../server/shared/deliver.ts";
import { hostCommands } from "../../../server/shared/host/layout.ts";
import { Ssh } from "../../../server/shared/ssh.ts";
import { mainPidOf, startEmulator, userKey } from "../../helpers/emulator.ts";
import { fileTempDir } from "../../helpers/tmp.ts";

const ROOT = resolve(import.meta.dir, "../../..");
const emulator = await startEmulator();
const provider = new DigitalOcean({ token: emulator.token, apiUrl: emulator.apiUrl });
const account = userKey();
const dir = fileTempDir("dropship-deliver-");

function build(version: string): string {
  const outdir = join(dir, version);
  const proc = Bun.spawnSync(
    [process.execPath, join(ROOT, "scripts/build.ts"), "--outdir", outdir, "--version", version],
    // the two servers it delivers: four builds of four binaries took most of its two minutes
    { stderr: "pipe", env: { ...process.env, DROPSHIP_BUILD_SERVERS: "app,monitor" } },
  );
  if (proc.exitCode !== 0) throw new Error(proc.stderr.toString());
  return join(outdir, "dropship-app");
}

test("a built app is delivered over SSH, answers on its host's address, then updates by delta", async () => {
  const key = await provider.ensureSshKey("dropship", account.publicKey);
  const hostKey = makeHostKey("web-1");
  let droplet = await provider.createDroplet({
    name: "web-1",
    region: "nyc3",
    size: "s-1vcpu-1gb",
    image: "debian-12-x64",
    sshKeys: [key.id],
    tags: [],
    userData: hostKeyUserData(hostKey),
  });
  droplet = await provider.waitActive(droplet, 20_000, 50);
  const ip = droplet.ip as string;
  const keyFile = join(dir, "id");
  writeFileSync(keyFile, account.privateKey, { mode: 0o600 });
  writeFileSync(join(dir, "known_hosts"), `${knownHostsLine(ip, hostKey)}\n`);
  writeFileSync(
    join(dir, "inventory.yml"),
    inventoryYaml([{ name: "web-1", role: "production", address: ip }], {
      privateKeyFile: keyFile,
      knownHostsFile: join(dir, "known_hosts"),
    }),
  );
  // No Redis for this host: the app serves /healthz as "degraded", which is all this needs.
  await runPlaybook("product.yml", join(dir, "inventory.yml"), {
    REDIS_URL: `redis://:unused@${EMULATOR.public.gateway}:1/0`,
  });

  const ssh = await Ssh.connect({
    host: ip,
    privateKey: account.privateKey,
    hostPublicKey: hostKey.publicKey,
  });
  const options = {
    cacheDir: join(dir, "cache"),
    restart: ["app"],
    healthUrl: `http://${ip}:3000/healthz`,
    healthTimeoutMs: 20_000,
  };
  const v1 = build("release-1");
  const monitor1 = join(dirname(v1), "dropship-monitor");
  const first = await deliverRelease(
    ssh,
    { version: "release-1", binaries: [v1, monitor1] },
    options,
  );
  // a new host: the first binary goes whole, packed; the second as a delta against it (the two
  // are mostly the same Bun runtime)
  expect(first.map((r) => `${r.name} ${r.mode}`)).toEqual([
    "dropship-app full",
    "dropship-monitor delta",
  ]);
  expect(first[0]?.bytesSent).toBeLessThan(Bun.file(v1).size * 0.7);
  expect(first[1]?.bytesSent).toBeLessThan(Bun.file(monitor1).size / 100);
  expect(
    (await ssh.check("sha256sum /srv/dropship/releases/release-1/dropship-monitor")).split(" ")[0],
  ).toBe(
    new Bun.CryptoHasher("sha256").update(await Bun.file(monitor1).arrayBuffer()).digest("hex"),
  );
  expect(await (await fetch(`http://${ip}:3000/`)).text()).toStartWith(
    "Hello from dropship production release-1 on web-1",
  );

  const v2 = build("release-2");
  const second = await deliverRelease(ssh, { version: "release-2", binaries: [v2] }, options);
  expect(second[0]?.mode).toBe("delta");
  expect(second[0]?.bytesSent).toBeLessThan(Bun.file(v2).size / 100);
  expect(
    ((await (await fetch(`http://${ip}:3000/healthz`)).json()) as { version: string }).version,
  ).toBe("release-2");

  // the release the host already runs is not sent, switched or restarted again
  const pid = (await ssh.check(mainPidOf("app"))).trim();
  const again = await deliverRelease(ssh, { version: "release-2", binaries: [v2] }, options);
  expect(again).toEqual([{ name: "dropship-app", mode: "skip", bytesSent: 0 }]);
  expect((await ssh.check(mainPidOf("app"))).trim()).toBe(pid);

  expect((await ssh.check("readlink /srv/dropship/current")).trim()).toBe("releases/release-2");
  expect((await ssh.check("ls /srv/dropship/releases")).trim().split("\n").sort()).toEqual([
    "release-1",
    "release-2",
  ]);
  // staged (as while a new host converges): on the host, but nothing switched or restarted
  const running = async () =>
    ((await (await fetch(`http://${ip}:3000/healthz`)).json()) as { version: string }).version;
  // each binary's digest is recorded beside it, the next delta's base read from the record; a
  // binary changed on the host since (a new file: the running one cannot be written) is found
  // out by the result's checksum, hashed, and sent again: whole, as this machine never had it
  const sha256Of = async (path: string) =>
    new Bun.CryptoHasher("sha256").update(await Bun.file(path).arrayBuffer()).digest("hex");
  expect((await ssh.check("cat /srv/dropship/current/dropship-app.sha256")).trim()).toBe(
    await sha256Of(v2),
  );
  await ssh.check(
    "cd /srv/dropship/current && cp dropship-app changed && dd if=/dev/zero of=changed bs=64K seek=16 count=1 conv=notrunc status=none && mv changed dropship-app",
  );
  const v3 = build("release-3");
  const said: string[] = [];
  const staged = await stageRelease(
    ssh,
    { version: "release-3", binaries: [v3] },
    { ...options, log: (line) => said.push(line) },
  );
  expect(said).toContain(
    `${ip}: dropship-app: the host's current one is not what its record says; hashed it, sending again`,
  );
  expect(staged[0]?.mode).toBe("full");
  expect(
    (await ssh.check("sha256sum /srv/dropship/releases/release-3/dropship-app")).split(" ")[0],
  ).toBe(await sha256Of(v3));
  expect((await ssh.check("readlink /srv/dropship/current")).trim()).toBe("releases/release-2");
  expect((await ssh.check(mainPidOf("app"))).trim()).toBe(pid);
  expect(await running()).toBe("release-2");
  await switchRelease(ssh, "release-3", options);
  expect(await running()).toBe("release-3");
  await deliverRelease(ssh, { version: "release-4", binaries: [build("release-4")] }, options);
  expect((await ssh.check("ls /srv/dropship/releases")).trim().split("\n").sort()).toEqual([
    "release-2",
    "release-3",
    "release-4",
  ]);
  // a base for each binary sent; each pack made once, none left half-written
  expect(readdirSync(join(dir, "cache")).filter((f) => f.endsWith(".bin"))).toHaveLength(5);
  const kept = readdirSync(join(dir, "cache/packed"));
  const packs = kept.filter((f) => f.endsWith(".zst"));
  // and release-3 whole, after the delta against the record that proved wrong
  expect(packs).toHaveLength(6);
  // whole packs, and deltas by block (every binary here is built on the same Bun), each
  // with its runs beside it
  expect(
    packs.every((f) => /^[0-9a-f]{64}\.zst$|^[0-9a-f]{64}-[0-9a-f]{64}\.blocks\.zst$/.test(f)),
  ).toBe(true);
  const deltas = packs.filter((f) => f.endsWith(".blocks.zst"));
  expect(deltas.length).toBeGreaterThan(0);
  expect(kept.filter((f) => !f.endsWith(".zst")).sort()).toEqual(
    deltas.map((f) => `${f}.runs`).sort(),
  );
  // the same for a binary sent as a zstd patch (less than half its blocks match its base's):
  // against the wrong base it does not unpack at all, and is sent again whole
  const MiB = 1024 * 1024;
  const synthetic = (version: string, content: Buffer) => {
    mkdirSync(join(dir, version));
    writeFileSync(join(dir, version, "dropship-x"), content);
    return { version, binaries: [join(dir, version, "dropship-x")] };
  };
  const x1 = randomBytes(3 * MiB);
  await stageRelease(ssh, synthetic("synthetic-1", x1), options);
  await ssh.check(hostCommands.switchTo("synthetic-1"));
  await ssh.check(
    "cd /srv/dropship/current && head -c 3145728 /dev/urandom > changed && mv changed dropship-x",
  );
  const x2 = Buffer.concat([randomBytes(2 * MiB), x1.subarray(2 * MiB)]);
  said.length = 0;
  const patched = await stageRelease(ssh, synthetic("synthetic-2", x2), {
    ...options,
    log: (line) => said.push(line),
  });
  expect(said[0]).toBe(
    `${ip}: dropship-x: the host's current one is not what its record says; hashed it, sending again`,
  );
  expect(patched[0]?.mode).toBe("full");
  expect(
    (await ssh.check("sha256sum /srv/dropship/releases/synthetic-2/dropship-x")).split(" ")[0],
  ).toBe(new Bun.CryptoHasher("sha256").update(x2).digest("hex"));
  expect(
    readdirSync(join(dir, "cache/packed")).filter((f) =>
      /^[0-9a-f]{64}-[0-9a-f]{64}\.zst$/.test(f),
    ),
  ).toHaveLength(1);
  await ssh.check(hostCommands.switchTo("release-4"));

  // a copied file is the login user's alone until it is moved into place
  await ssh.put(v1, "/tmp/copied");
  expect((await ssh.check("stat -c %a /tmp/copied")).trim()).toBe("600");
  // a copy that cannot be made says which side failed
  const missing = join(dir, "missing");
  await expect(ssh.put(missing, "/tmp/never")).rejects.toThrow(
    `${ip}: copying ${missing} failed: ENOENT`,
  );
  await expect(ssh.put(v1, "/no/such/dir/x")).rejects.toThrow(
    `${ip}: copying to /no/such/dir/x failed (exit 1): `,
  );
  ssh.close();

  // a key the host does not accept: the error names the user, the host and the key's path
  const stranger = join(dir, "stranger");
  await expect(
    Ssh.connect({
      host: ip,
      privateKey: userKey().privateKey,
      keyFile: stranger,
      hostPublicKey: hostKey.publicKey,
    }),
  ).rejects.toThrow(`root@${ip}: the key ${stranger} was refused — its .pub must be in`);
}, 120_000);
