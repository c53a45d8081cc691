// lane: droplets-1 — its droplets boot on emulator network 1, in a droplet lane of its own
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { lxcfsInDroplet } from "../../../server/emulator/host.ts";
import {
  cgroupFolder,
  cgroupPath,
  lxcfsMounts,
  placesFrom,
  trackingPlaces,
} from "../../../server/emulator/limits.ts";
import { LXCFS_DIR, lxcfsMounted } from "../../../server/emulator/lxcfs.ts";
import { ensureProcView } from "../../../server/emulator/proc-view.ts";
import { parseCpu } from "../../../server/monitor/procfs.ts";
import { DigitalOcean, type Droplet } from "../../../server/shared/cloud/digitalocean.ts";
import { hostKeyUserData, makeHostKey } from "../../../server/shared/cloud/hostkeys.ts";
import { BUILD_SERVERS_VARIABLE } from "../../../server/shared/platform.ts";
import { Ssh } from "../../../server/shared/ssh.ts";
import { startEmulator, userKey } from "../../helpers/emulator.ts";
import { tempDir } from "../../helpers/tmp.ts";

const ROOT = resolve(import.meta.dir, "../../..");
const emulator = await startEmulator();
const provider = new DigitalOcean({ token: emulator.token, apiUrl: emulator.apiUrl });
const account = userKey();
const key = await provider.ensureSshKey("limits", account.publicKey);

/** The emulator's cgroups sit under this process's own (the test started it). */
const places = placesFrom(
  readFileSync("/proc/mounts", "utf8"),
  readFileSync("/proc/self/cgroup", "utf8"),
);
if (typeof places === "string") throw new Error(`this machine cannot limit droplets: ${places}`);
const cgroupOf = (controller: "cpu" | "cpuacct" | "memory" | "pids", id: number) =>
  cgroupPath(places[controller].mount, places[controller].base, id);
/** where nspawn and the droplets' systemd track processes (name=systemd, and cgroup2 if mounted) */
const tracking = trackingPlaces(
  readFileSync("/proc/mounts", "utf8"),
  readFileSync("/proc/self/cgroup", "utf8"),
);

interface Host {
  droplet: Droplet;
  ssh: Ssh;
}

async function boot(
  name: string,
  size: string,
  on: { provider: DigitalOcean; keyId: number } = { provider, keyId: key.id },
): Promise<Host> {
  const hostKey = makeHostKey(name);
  const created = await on.provider.createDroplet({
    name,
    region: "nyc3",
    size,
    image: "debian-12-x64",
    sshKeys: [on.keyId],
    tags: ["limits"],
    userData: hostKeyUserData(hostKey),
  });
  const droplet = await on.provider.waitActive(created, 15_000, 50);
  const ssh = await Ssh.connect({
    host: droplet.ip as string,
    privateKey: account.privateKey,
    hostPublicKey: hostKey.publicKey,
  });
  return { droplet, ssh };
}

/** dropship-monitor built from this checkout (the run's build cache makes it a copy). */
function monitorBinary(): string {
  const outdir = tempDir("dropship-limits-build-");
  const build = Bun.spawnSync(
    [process.execPath, join(ROOT, "scripts/build.ts"), "--outdir", outdir],
    { stderr: "pipe", env: { ...process.env, [BUILD_SERVERS_VARIABLE]: "monitor" } },
  );
  if (build.exitCode !== 0) throw new Error(build.stderr.toString());
  return join(outdir, "dropship-monitor");
}

const machineMemTotalKb = async () =>
  Number(/^MemTotal:\s+(\d+) kB/m.exec(await Bun.file("/proc/meminfo").text())?.[1]);
const memTotalKb = async (host: Host) =>
  Number(/^MemTotal:\s+(\d+) kB/m.exec(await host.ssh.check("cat /proc/meminfo"))?.[1]);
const processors = async (host: Host) =>
  (await host.ssh.check("cat /proc/cpuinfo")).split("\n").filter((l) => l.startsWith("processor"))
    .length;
const busyShare = (before: string, after: string) => {
  const [a, b] = [parseCpu(before), parseCpu(after)];
  return (b.busy - a.busy) / (b.total - a.total);
};

test("the emulator says at start that droplets are limited by size, and boot systemd", () => {
  expect(emulator.started).toContain("droplets limited by size");
  expect(emulator.started).toContain("droplets boot systemd");
  // nspawn and systemd track processes in name=systemd (and cgroup2 where it is mounted)
  expect(tracking.length).toBeGreaterThan(0);
  expect(lxcfsMounted()).toBe(true);
});

describe("two droplets of one size", () => {
  const hosts: Host[] = [];

  test("each see about their size's memory and CPUs, not the machine's", async () => {
    hosts.push(
      await boot("small-1", "s-1vcpu-512mb-10gb"),
      await boot("small-2", "s-1vcpu-512mb-10gb"),
    );
    for (const host of hosts) {
      // systemd is their PID 1, as on DigitalOcean, and the size's figures are in place
      // before its first service starts
      expect((await host.ssh.check("cat /proc/1/comm")).trim()).toBe("systemd");
      expect(await memTotalKb(host)).toBe(512 * 1024);
      expect(await processors(host)).toBe(1);
      // free and the like read the same file: everything on the droplet sees its size
      expect(await host.ssh.check("free -m | awk '/^Mem:/ {print $2}'")).toBe("512\n");
    }
    const [first] = hosts;
    expect(
      readFileSync(
        join(cgroupOf("memory", first?.droplet.id ?? 0), "memory.limit_in_bytes"),
        "utf8",
      ).trim(),
    ).toBe(String(512 * 1024 * 1024));
    expect(
      readFileSync(
        join(cgroupOf("cpu", first?.droplet.id ?? 0), "cpu.cfs_quota_us"),
        "utf8",
      ).trim(),
    ).toBe("100000");
    expect(
      readFileSync(join(cgroupOf("pids", first?.droplet.id ?? 0), "pids.max"), "utf8").trim(),
    ).toBe("1024");
  }, 60_000);

  test("each droplet's services are in cgroups of its own: systemd finds only its own processes in a unit", async () => {
    // the same unit on both droplets; in a tree the droplets shared, each unit's cgroup held
    // both droplets' processes, the other's as pid 0 in cgroup2, and stopping it said
    // "Failed to kill control group …: Input/output error"
    const probe =
      "systemd-run --quiet --unit=dropship-probe sleep 600; for d in /sys/fs/cgroup/unified /sys/fs/cgroup/systemd; do f=$d/system.slice/dropship-probe.service/cgroup.procs; if [ -e $f ]; then cat $f; fi; done; systemctl show -p MainPID --value dropship-probe";
    for (const host of hosts) {
      const lines = (await host.ssh.check(probe)).trim().split("\n");
      const mainPid = lines.pop() as string;
      expect(Number(mainPid)).toBeGreaterThan(1);
      expect(lines.length).toBeGreaterThan(0);
      expect(new Set(lines)).toEqual(new Set([mainPid]));
    }
    for (const host of hosts) {
      await host.ssh.check("systemctl stop dropship-probe");
      expect(await host.ssh.check("journalctl --no-pager -q -u dropship-probe")).not.toContain(
        "Failed to kill",
      );
    }
  }, 30_000);

  test("a droplet that lost LXCFS's files from its /proc is found, and put right, from outside", async () => {
    const [host] = hosts as [Host];
    const { droplets } = JSON.parse(readFileSync(join(emulator.dir, "state.json"), "utf8")) as {
      droplets: { id: number; pid: number }[];
    };
    const hostPid = droplets.find((d) => d.id === host.droplet.id)?.pid as number;
    const script = lxcfsMounts(lxcfsInDroplet("systemd")).join("\n");
    // as it boots, it saw its size: nothing to put right
    expect(await ensureProcView(hostPid, 512, script)).toBeUndefined();
    // what a droplet was once seen like on a busy machine: its /proc the machine's own
    await host.ssh.check("umount /proc/meminfo /proc/stat");
    expect(await memTotalKb(host)).toBeGreaterThan(1024 * 1024);
    const found = await ensureProcView(hostPid, 512, script);
    expect(found).toStartWith(`saw MemTotal ${await machineMemTotalKb()} kB, not its 524288 kB`);
    expect(found).toEndWith("LXCFS's files bound again (done), now right");
    expect(await memTotalKb(host)).toBe(512 * 1024);
    expect(await host.ssh.check("grep -c '^cpu[0-9]' /proc/stat")).toBe("1\n");
    expect(await ensureProcView(hostPid, 512, script)).toBeUndefined();
  }, 30_000);

  test("a busy loop on one shows in its own /proc/stat and not in its neighbour's", async () => {
    const [busy, quiet] = hosts as [Host, Host];
    /** CPU time the droplet's cgroup has had, in ms (what the kernel gave it, however busy the machine) */
    const usedMs = () =>
      Number(
        readFileSync(join(cgroupOf("cpuacct", busy.droplet.id), "cpuacct.usage"), "utf8").trim(),
      ) / 1e6;
    const before = [
      await busy.ssh.check("head -1 /proc/stat"),
      await quiet.ssh.check("head -1 /proc/stat"),
    ];
    const [usedBefore, since] = [usedMs(), performance.now()];
    await busy.ssh.check("timeout 3 sh -c 'while :; do :; done' || true");
    const [usedAfter, until] = [usedMs(), performance.now()];
    const after = [
      await busy.ssh.check("head -1 /proc/stat"),
      await quiet.ssh.check("head -1 /proc/stat"),
    ];
    const busyCpu = busyShare(before[0] as string, after[0] as string);
    const quietCpu = busyShare(before[1] as string, after[1] as string);
    // the share of its one vCPU the loop got: all of it on an idle machine, less beside other
    // lanes' tests on this machine's two cores, which is why /proc/stat is held to it, not to 1
    const got = (usedAfter - usedBefore) / (until - since);
    expect(got).toBeGreaterThan(0.2);
    expect(Math.abs(busyCpu - got)).toBeLessThan(0.2);
    // the neighbour saw none of it
    expect(quietCpu).toBeLessThan(0.2);
  }, 30_000);

  test("a process allocating past the droplet's memory is killed there alone, and the monitor raises the memory alert", async () => {
    const [full, neighbour] = hosts as [Host, Host];
    // the neighbour's process outlives what happens next door
    await neighbour.ssh.check(
      "nohup sleep 600 < /dev/null > /dev/null 2>&1 & echo $! > /srv/sleeper",
    );
    await full.ssh.check(
      "redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --logfile /srv/redis.log",
    );
    // the monitor as a droplet runs it: its binary, for this machine's files are not there
    await full.ssh.put(monitorBinary(), "/srv/dropship-monitor");
    await full.ssh.check(
      [
        "chmod 755 /srv/dropship-monitor; cd /srv;",
        "REDIS_URL=redis://127.0.0.1:6379 DROPSHIP_ROLE=production PORT=9100 HOST=127.0.0.1",
        "DROPSHIP_MONITOR_MEM=60 DROPSHIP_MONITOR_FOR=1s DROPSHIP_MONITOR_INTERVAL=500ms",
        "nohup /srv/dropship-monitor < /dev/null > /srv/monitor.log 2>&1 &",
      ].join(" "),
    );
    await until(
      async () => (await full.ssh.exec("curl -sf http://127.0.0.1:9100/healthz")).code === 0,
      15_000,
      "the monitor",
    );
    // up to ~75% of 512 MB, held while the monitor looks, then on past the limit
    const hog = [
      "import time",
      "held = [b'x' * (8 << 20) for _ in range(48)]",
      "time.sleep(8)",
      "while True: held.append(b'x' * (8 << 20))",
    ].join("\n");
    await full.ssh.check(`echo ${Buffer.from(hog).toString("base64")} | base64 -d > /srv/hog.py`);
    await full.ssh.check(
      "nohup sh -c 'python3 /srv/hog.py > /srv/hog.log 2>&1; echo $? > /srv/hog.exit' < /dev/null > /dev/null 2>&1 &",
    );
    await until(
      async () =>
        /dropship_alert_firing\{[^}]*alert="[^"]*memory/.test(
          await full.ssh.check("curl -s http://127.0.0.1:9100/metrics"),
        ),
      20_000,
      "the memory alert",
    );
    await until(
      async () => (await full.ssh.exec("cat /srv/hog.exit")).code === 0,
      30_000,
      "the hog's end",
    );
    // killed by the kernel's OOM killer (SIGKILL: 128 + 9), in this droplet's cgroup only
    expect((await full.ssh.check("cat /srv/hog.exit")).trim()).toBe("137");
    const oom = readFileSync(
      join(cgroupOf("memory", full.droplet.id), "memory.oom_control"),
      "utf8",
    );
    expect(Number(/oom_kill (\d+)/.exec(oom)?.[1])).toBeGreaterThan(0);
    expect((await full.ssh.exec("curl -sf http://127.0.0.1:9100/healthz")).code).toBe(0);
    expect((await neighbour.ssh.exec("kill -0 $(cat /srv/sleeper)")).code).toBe(0);
    const neighbourOom = readFileSync(
      join(cgroupOf("memory", neighbour.droplet.id), "memory.oom_control"),
      "utf8",
    );
    expect(neighbourOom).toMatch(/oom_kill 0/);
    expect(await full.ssh.check("cat /srv/monitor.log")).toMatch(/firing: .*memory/);
  }, 90_000);

  test("resize changes what the droplet sees, at once; the disk stays unless asked", async () => {
    const [, host] = hosts as [Host, Host];
    const resized = await provider.resizeDroplet(host.droplet, "s-2vcpu-2gb", { pollMs: 100 });
    expect(resized.size).toBe("s-2vcpu-2gb");
    expect(await memTotalKb(host)).toBe(2048 * 1024);
    expect(await processors(host)).toBe(2);
    const view = await api(`/droplets/${host.droplet.id}`);
    expect(view.droplet).toMatchObject({
      memory: 2048,
      vcpus: 2,
      disk: 10,
      size_slug: "s-2vcpu-2gb",
    });
    const actions = await api(`/droplets/${host.droplet.id}/actions`);
    expect(actions.actions[0]).toMatchObject({
      type: "resize",
      status: "completed",
      resource_id: host.droplet.id,
      resource_type: "droplet",
      region_slug: "nyc3",
    });
    expect(actions.actions.map((a: { type: string }) => a.type)).toEqual(["resize", "create"]);
    const one = await api(`/actions/${actions.actions[0].id}`);
    expect(one.action.completed_at).toMatch(/Z$/);
    // and back down: CPU and memory can shrink again when the disk was not grown
    await provider.resizeDroplet(host.droplet, "s-1vcpu-1gb", { pollMs: 100 });
    expect(await memTotalKb(host)).toBe(1024 * 1024);
    expect(await processors(host)).toBe(1);
  }, 30_000);

  test("a bad resize is refused as the API refuses it, and changes nothing", async () => {
    const [, host] = hosts as [Host, Host];
    const id = host.droplet.id;
    const post = (body: unknown) => apiRaw(`/droplets/${id}/actions`, body);
    const wrongSize = await post({ type: "resize", size: "s-64vcpu-1tb" });
    expect(wrongSize.status).toBe(422);
    expect(((await wrongSize.json()) as { message: string }).message).toBe(
      "You specified an invalid size for Droplet resize.",
    );
    expect((await post({ type: "reboot" })).status).toBe(422);
    expect(
      (await apiRaw("/droplets/1/actions", { type: "resize", size: "s-1vcpu-1gb" })).status,
    ).toBe(404);
    // a grown disk cannot shrink: after disk: true to 60 GB, a 25 GB size is refused
    await provider.resizeDroplet(host.droplet, "s-2vcpu-2gb", { disk: true, pollMs: 100 });
    const shrink = await post({ type: "resize", size: "s-1vcpu-1gb" });
    expect(shrink.status).toBe(422);
    expect(((await shrink.json()) as { message: string }).message).toContain(
      "a disk cannot shrink",
    );
    expect((await api(`/droplets/${id}`)).droplet).toMatchObject({
      size_slug: "s-2vcpu-2gb",
      disk: 60,
    });
    expect(await memTotalKb(host)).toBe(2048 * 1024);
  }, 30_000);

  test("a resize to less memory than the droplet uses errors, and the droplet keeps its size", async () => {
    const [host] = hosts as [Host];
    await provider.resizeDroplet(host.droplet, "s-1vcpu-1gb", { pollMs: 100 });
    // 640 MB held, more than the 512 MB size it is then asked to shrink to
    const hold = "import time\nheld = [b'x' * (8 << 20) for _ in range(80)]\ntime.sleep(60)";
    await host.ssh.check(`echo ${Buffer.from(hold).toString("base64")} | base64 -d > /srv/hold.py`);
    await host.ssh.check(
      "nohup python3 /srv/hold.py < /dev/null > /dev/null 2>&1 & echo $! > /srv/hold.pid",
    );
    await until(
      async () =>
        Number(
          readFileSync(join(cgroupOf("memory", host.droplet.id), "memory.usage_in_bytes"), "utf8"),
        ) >
        640 * 1024 * 1024,
      15_000,
      "640 MB in use",
    );
    await expect(
      provider.resizeDroplet(host.droplet, "s-1vcpu-512mb-10gb", { pollMs: 100 }),
    ).rejects.toThrow("errored; the droplet keeps its size");
    expect((await api(`/droplets/${host.droplet.id}`)).droplet).toMatchObject({
      size_slug: "s-1vcpu-1gb",
      memory: 1024,
    });
    expect(await memTotalKb(host)).toBe(1024 * 1024);
    expect((await host.ssh.exec("kill -0 $(cat /srv/hold.pid)")).code).toBe(0);
    await host.ssh.exec("kill $(cat /srv/hold.pid)");
  }, 60_000);

  test("deleting a droplet removes its cgroups", async () => {
    const [first] = hosts as [Host];
    first.ssh.close();
    const dirs = [
      ...(["cpu", "memory", "pids"] as const).map((c) => cgroupOf(c, first.droplet.id)),
      ...tracking.map(({ mount, base }) => cgroupPath(mount, base, first.droplet.id)),
    ];
    expect(dirs.every(existsSync)).toBe(true);
    await provider.deleteDroplet(first.droplet.id);
    expect(dirs.some(existsSync)).toBe(false);
  }, 30_000);

  test("a stopped emulator leaves no cgroup, LXCFS mount or process behind", async () => {
    for (const host of hosts.slice(1)) host.ssh.close();
    const folders = [
      ...(["cpu", "memory", "pids"] as const).map((c) =>
        cgroupFolder(places[c].mount, places[c].base),
      ),
      ...tracking.map(({ mount, base }) => cgroupFolder(mount, base)),
    ];
    expect(folders.every(existsSync)).toBe(true);
    expect(await emulator.stop()).toBe(0);
    expect(folders.filter(existsSync)).toEqual([]);
    expect(lxcfsMounted()).toBe(false);
    expect(existsSync(LXCFS_DIR)).toBe(false);
    const lxcfsProcesses = readdirSync("/proc")
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, "utf8").includes(LXCFS_DIR);
        } catch {
          return false;
        }
      });
    expect(lxcfsProcesses).toEqual([]);
  }, 30_000);
});

test("a droplet that boots a shell instead (DROPSHIP_EMULATOR_INIT=shell) is held to its size too", async () => {
  const shell = await startEmulator(1000, "shell");
  expect(shell.started).toContain("droplets boot a shell");
  const shellProvider = new DigitalOcean({ token: shell.token, apiUrl: shell.apiUrl });
  const shellKey = await shellProvider.ensureSshKey("limits", account.publicKey);
  const host = await boot("shell-1", "s-1vcpu-512mb-10gb", {
    provider: shellProvider,
    keyId: shellKey.id,
  });
  expect((await host.ssh.check("cat /proc/1/comm")).trim()).toBe("bash");
  expect(await memTotalKb(host)).toBe(512 * 1024);
  expect(await processors(host)).toBe(1);
  expect(
    readFileSync(join(cgroupOf("memory", host.droplet.id), "memory.limit_in_bytes"), "utf8").trim(),
  ).toBe(String(512 * 1024 * 1024));
  host.ssh.close();
  expect(await shell.stop()).toBe(0);
}, 60_000);

async function apiRaw(path: string, body?: unknown): Promise<Response> {
  return fetch(`${emulator.apiUrl}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${emulator.token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

// biome-ignore lint/suspicious/noExplicitAny: the API's JSON, read by the test's expectations
async function api(path: string): Promise<any> {
  const response = await apiRaw(path);
  expect(response.status).toBe(200);
  return response.json();
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(200);
  }
}
