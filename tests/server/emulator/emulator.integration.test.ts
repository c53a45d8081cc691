// lane: droplets-1 — its droplets boot on emulator network 1, in a droplet lane of its own
import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { macFor, NETWORKS } from "../../../server/emulator/host.ts";
import { EMULATOR_NETWORK_VARIABLE } from "../../../server/emulator/network.ts";
import { EMULATOR } from "../../../server/emulator/this-network.ts";
import {
  CloudError,
  DigitalOcean,
  type Droplet,
} from "../../../server/shared/cloud/digitalocean.ts";
import { hostKeyUserData, makeHostKey } from "../../../server/shared/cloud/hostkeys.ts";
import { run } from "../../../server/shared/proc.ts";
import { Ssh } from "../../../server/shared/ssh.ts";
import { namespaces, startEmulator, userKey } from "../../helpers/emulator.ts";
import { serverEntry } from "../../helpers/server.ts";

const ROOT = resolve(import.meta.dir, "../../..");
const emulator = await startEmulator();
const provider = new DigitalOcean({ token: emulator.token, apiUrl: emulator.apiUrl });
const account = userKey();

describe("three droplets", () => {
  const made: { droplet: Droplet; hostPublicKey: string }[] = [];

  test("are created with dots-wrapper, each reachable over SSH at its own address with a pinned key", async () => {
    const key = await provider.ensureSshKey("dropship", account.publicKey);
    expect(await provider.ensureSshKey("dropship", account.publicKey)).toEqual(key);
    for (const name of ["web-1", "web-2", "web-3"]) {
      const hostKey = makeHostKey(name);
      const created = await provider.createDroplet({
        name,
        region: "nyc3",
        size: "s-1vcpu-1gb",
        image: "debian-12-x64",
        sshKeys: [key.id],
        tags: ["dropship", "dropship:production"],
        userData: hostKeyUserData(hostKey),
      });
      expect(created.status).toBe("new");
      made.push({ droplet: created, hostPublicKey: hostKey.publicKey });
    }
    for (const entry of made) {
      entry.droplet = await provider.waitActive(entry.droplet, 15_000, 50);
      // in the VPC, and on the public network
      expect(entry.droplet.ip?.startsWith(`${EMULATOR.private.prefix}.`)).toBe(true);
      expect(entry.droplet.publicIp?.startsWith(`${EMULATOR.public.prefix}.`)).toBe(true);
    }
    expect(new Set(made.map((m) => m.droplet.ip)).size).toBe(3);
    for (const { droplet, hostPublicKey } of made) {
      const ssh = await Ssh.connect({
        host: droplet.ip as string,
        privateKey: account.privateKey,
        hostPublicKey,
      });
      expect((await ssh.check("hostname")).trim()).toBe(droplet.name);
      await ssh.check(`echo ${droplet.name} > /srv/owner`);
      ssh.close();
    }
  }, 60_000);

  test("do not see each other's files, nor this machine's", async () => {
    const [first, second] = made;
    const ssh = await Ssh.connect({
      host: second?.droplet.ip as string,
      privateKey: account.privateKey,
      hostPublicKey: second?.hostPublicKey as string,
    });
    expect((await ssh.check("cat /srv/owner")).trim()).toBe(second?.droplet.name as string);
    // its own PID namespace: PID 1 is the host's systemd, and the emulator (bun) is not in sight
    const processes = await ssh.check("ps -e -o pid=,comm=");
    expect(processes).toMatch(/^\s*1 systemd$/m);
    expect(processes).not.toMatch(/\bbun\b/);
    // nor this checkout: a droplet has its own /srv, /etc, /root, /tmp and /var, and no /work
    expect((await ssh.exec(`test -e ${ROOT}/package.json`)).code).not.toBe(0);
    // its /etc is the image's, owners and groups as they are (the shadow group reads passwords)
    expect((await ssh.check("stat -c '%U:%G %a' /etc/shadow")).trim()).toBe(
      Bun.spawnSync(["stat", "-c", "%U:%G %a", "/etc/shadow"]).stdout.toString().trim(),
    );
    ssh.close();
    expect(first?.droplet.name).toBe("web-1");
    expect(await Bun.file("/srv/owner").exists()).toBe(false);
  });

  test("refuse a connection whose host key is not the pinned one", async () => {
    const [first, second] = made;
    await expect(
      Ssh.connect({
        host: first?.droplet.ip as string,
        privateKey: account.privateKey,
        hostPublicKey: second?.hostPublicKey as string,
      }),
    ).rejects.toThrow("the host key is not the pinned one");
  });

  test("are listed by tag", async () => {
    const tagged = await provider.listByTag("dropship:production");
    expect(tagged.map((d) => d.name).sort()).toEqual(["web-1", "web-2", "web-3"]);
    expect(await provider.listByTag("nothing-here")).toEqual([]);
  });

  test("delete tears each one down: its processes, its namespace, its address", async () => {
    // this machine's MAC on each network stays what the hosts' ARP entries hold for it
    const bridgeMacs = () =>
      Object.values(NETWORKS).map(
        ({ bridge }) => /link\/ether (\S+)/.exec(run(["ip", "-o", "link", "show", bridge]))?.[1],
      );
    const gatewayMacs = Object.values(NETWORKS).map(({ gateway }) => macFor(gateway));
    expect(bridgeMacs()).toEqual(gatewayMacs);
    for (const { droplet } of made) {
      await provider.deleteDroplet(droplet.id, droplet.name);
      expect(bridgeMacs()).toEqual(gatewayMacs);
      expect(namespaces()).not.toContain(`${EMULATOR.hostNamespacePrefix}${droplet.id}`);
      await expect(provider.getDroplet(droplet.id, droplet.name)).rejects.toThrow(
        `read droplet ${droplet.name}: 404 not_found — The resource you were accessing could not be found.`,
      );
    }
    await expect(
      Ssh.connect({
        host: made[0]?.droplet.ip as string,
        privateKey: account.privateKey,
        hostPublicKey: made[0]?.hostPublicKey as string,
        timeoutMs: 2000,
      }),
    ).rejects.toThrow();
    expect(await provider.listByTag("dropship")).toEqual([]);
  });
});

describe("faults surface as clear messages", () => {
  test("a bad size is the API's 422, naming the droplet", async () => {
    const error = await provider
      .createDroplet({
        name: "web-9",
        region: "nyc3",
        size: "s-64vcpu-huge",
        image: "debian-12-x64",
        sshKeys: [],
        tags: [],
      })
      .catch((e) => e);
    expect(error).toBeInstanceOf(CloudError);
    expect(error.message).toBe(
      "create droplet web-9: 422 unprocessable_entity — You specified an invalid size for Droplet creation.",
    );
  });

  test("a wrong token is a 401, and the token never appears in the message", async () => {
    const wrong = new DigitalOcean({ token: "dop_v1_wrongwrongwrong", apiUrl: emulator.apiUrl });
    const error = await wrong.listByTag("dropship").catch((e) => e);
    expect(error.message).toBe(
      "list droplets tagged dropship: 401 unauthorized — Unable to authenticate you",
    );
    expect(error.message).not.toContain("wrongwrongwrong");
  });

  test("an API that does not answer times out with a sentence", async () => {
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const slow = new DigitalOcean({
      token: "t",
      apiUrl: `http://127.0.0.1:${silent.port}/v2`,
      requestTimeoutMs: 300,
      attempts: 2,
    });
    await expect(slow.listByTag("x")).rejects.toThrow(
      "list droplets tagged x: no answer — no answer within 300 ms",
    );
    silent.stop(true);
  });

  test("a droplet that is not active in time is reported by name", async () => {
    const key = await provider.ensureSshKey("dropship", account.publicKey);
    const droplet = await provider.createDroplet({
      name: "slow-1",
      region: "nyc3",
      size: "s-1vcpu-1gb",
      image: "debian-12-x64",
      sshKeys: [key.id],
      tags: [],
    });
    await expect(provider.waitActive(droplet, 1, 1)).rejects.toThrow(
      "wait for droplet slow-1: no answer — still new after 1 ms",
    );
    await provider.deleteDroplet(droplet.id);
  });
});

test("stopping the emulator leaves no namespace behind", async () => {
  const key = await provider.ensureSshKey("dropship", account.publicKey);
  const droplet = await provider.createDroplet({
    name: "last-1",
    region: "nyc3",
    size: "s-1vcpu-1gb",
    image: "debian-12-x64",
    sshKeys: [key.id],
    tags: [],
  });
  await provider.waitActive(droplet, 15_000, 50);
  expect(namespaces()).toContain(`${EMULATOR.hostNamespacePrefix}${droplet.id}`);
  expect(await emulator.stop()).toBe(0);
  expect(namespaces().filter((n) => n.startsWith(EMULATOR.hostNamespacePrefix))).toEqual([]);
  expect(await Bun.file(EMULATOR.lockFile).exists()).toBe(false);
}, 30_000);

test("an emulator killed outright leaves hosts that the next one clears at start", async () => {
  const crashed = await startEmulator();
  const crashedProvider = new DigitalOcean({ token: crashed.token, apiUrl: crashed.apiUrl });
  const key = await crashedProvider.ensureSshKey("dropship", account.publicKey);
  const droplet = await crashedProvider.createDroplet({
    name: "orphan-1",
    region: "nyc3",
    size: "s-1vcpu-1gb",
    image: "debian-12-x64",
    sshKeys: [key.id],
    tags: [],
  });
  await crashedProvider.waitActive(droplet, 15_000, 50);
  process.kill(crashed.pid, "SIGKILL");
  await Bun.sleep(200);
  expect(namespaces()).toContain(`${EMULATOR.hostNamespacePrefix}${droplet.id}`);
  const next = await startEmulator();
  expect(namespaces().filter((n) => n.startsWith(EMULATOR.hostNamespacePrefix))).toEqual([]);
  // its DNS server died with it (else the next one's could not take the port)
  expect(next.started).toContain(`DNS for /v2/domains at ${EMULATOR.public.gateway}:53`);
  expect(await next.stop()).toBe(0);
}, 30_000);

test("a second emulator on the same machine is refused with the reason", async () => {
  const first = await startEmulator();
  const second = Bun.spawnSync([process.execPath, serverEntry("emulator"), "--port", "1"], {
    env: {
      PATH: process.env.PATH ?? "",
      DIGITALOCEAN_TOKEN: "x",
      DROPSHIP_EMULATOR_DIR: first.dir,
      [EMULATOR_NETWORK_VARIABLE]: String(EMULATOR.network),
    },
    stderr: "pipe",
  });
  // a failure at start, not a bad setting: exit 1, as every server and command
  expect(second.exitCode).toBe(1);
  expect(second.stderr.toString()).toContain(
    `another emulator (pid ${first.pid}) is running on this machine`,
  );
  expect(await first.stop()).toBe(0);
}, 30_000);

test("a rate limit is retried as the headers say, then reported", async () => {
  const limited = await startEmulator(2);
  const raw = async () =>
    fetch(`${limited.apiUrl}/droplets`, {
      headers: { authorization: `Bearer ${limited.token}` },
    });
  const first = await raw();
  expect(first.headers.get("ratelimit-limit")).toBe("2");
  expect(first.headers.get("ratelimit-remaining")).toBe("1");
  expect(Number(first.headers.get("ratelimit-reset"))).toBeGreaterThan(Date.now() / 1000);
  await raw();
  const third = await raw();
  expect(third.status).toBe(429);
  expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(0);
  expect(await third.json()).toMatchObject({
    id: "too_many_requests",
    message: "API Rate limit exceeded.",
  });
  const logs: string[] = [];
  const impatient = new DigitalOcean({
    token: limited.token,
    apiUrl: limited.apiUrl,
    maxRateWaitMs: 100,
    log: (l) => logs.push(l),
  });
  await expect(impatient.listByTag("dropship")).rejects.toThrow(
    "list droplets tagged dropship: 429 too_many_requests — API Rate limit exceeded. (the limit resets too late to wait for)",
  );
});
