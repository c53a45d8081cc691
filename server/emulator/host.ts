import { chmodSync, cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../shared/proc.ts";

/** The emulated droplets' network: a bridge in the root namespace, 10.77.0.0/16. */
export const BRIDGE = "dsemu0";
export const GATEWAY = "10.77.0.1";
const PREFIX = 16;

export interface HostSpec {
  id: number;
  name: string;
  ip: string;
  /** OpenSSH private host key, from user_data or made by the emulator */
  hostKey: string;
  authorizedKeys: string[];
  /** where this host's private directories live */
  dir: string;
}

export const namespaceOf = (id: number) => `dsemu-${id}`;
const vethOf = (id: number) => [`dse${id}h`, `dse${id}c`] as const;

/** A MAC derived from the address, so a re-created host never leaves stale ARP entries. */
export function macFor(ip: string): string {
  const bytes = ip.split(".").map((n) => Number(n).toString(16).padStart(2, "0"));
  return `02:00:${bytes.join(":")}`;
}

export function ensureBridge(): void {
  const exists = run(["ip", "-o", "link", "show", BRIDGE], { allowFailure: true }).includes(BRIDGE);
  if (!exists) run(["ip", "link", "add", "name", BRIDGE, "type", "bridge"]);
  const addresses = run(["ip", "-o", "addr", "show", "dev", BRIDGE]);
  if (!addresses.includes(`${GATEWAY}/${PREFIX}`))
    run(["ip", "addr", "add", `${GATEWAY}/${PREFIX}`, "dev", BRIDGE]);
  run(["ip", "link", "set", BRIDGE, "up"]);
}

/**
 * Boots a droplet as a real host: a network namespace wired to the bridge, and inside new
 * mount, UTS and PID namespaces a private /etc, /root, /srv and /run, its hostname, and an
 * sshd of its own with the droplet's host key. Answers the pid of the host's outermost
 * process; killing it ends everything that ran on the host.
 */
export function bootHost(spec: HostSpec): number {
  const ns = namespaceOf(spec.id);
  const [outside, inside] = vethOf(spec.id);
  prepareFiles(spec);
  run(["ip", "netns", "add", ns]);
  run(["ip", "link", "add", outside, "type", "veth", "peer", "name", inside]);
  run(["ip", "link", "set", inside, "netns", ns]);
  run(["ip", "link", "set", outside, "master", BRIDGE]);
  run(["ip", "link", "set", outside, "up"]);
  const inNs = (...argv: string[]) => run(["ip", "netns", "exec", ns, ...argv]);
  inNs("ip", "link", "set", inside, "address", macFor(spec.ip));
  inNs("ip", "addr", "add", `${spec.ip}/${PREFIX}`, "dev", inside);
  inNs("ip", "link", "set", inside, "up");
  inNs("ip", "link", "set", "lo", "up");
  const child = Bun.spawn(
    [
      "ip",
      "netns",
      "exec",
      ns,
      "unshare",
      "--mount",
      "--uts",
      "--pid",
      "--fork",
      "--kill-child",
      "--mount-proc",
      "--propagation",
      "private",
      "bash",
      join(spec.dir, "init.sh"),
    ],
    {
      stdin: "ignore",
      stdout: Bun.file(join(spec.dir, "host.log")),
      stderr: Bun.file(join(spec.dir, "host.log")),
    },
  );
  child.unref();
  return child.pid;
}

/** Stops everything on the host and removes its namespace, links and files. */
export function destroyHost(id: number, pid: number | undefined, dir: string): void {
  if (pid) {
    try {
      // `unshare --fork` ignores SIGTERM; SIGKILL takes the host's PID 1 and so all of it.
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  const ns = namespaceOf(id);
  for (const pidInNs of run(["ip", "netns", "pids", ns], { allowFailure: true })
    .split(/\s+/)
    .filter(Boolean)) {
    try {
      process.kill(Number(pidInNs), "SIGKILL");
    } catch {
      // gone
    }
  }
  run(["ip", "link", "del", vethOf(id)[0]], { allowFailure: true });
  run(["ip", "netns", "del", ns], { allowFailure: true });
  rmSync(dir, { recursive: true, force: true });
}

/** Namespaces this emulator made that are still there, by id. */
export function leftoverHosts(): number[] {
  return run(["ip", "netns", "list"], { allowFailure: true })
    .split("\n")
    .map((line) => /^dsemu-(\d+)/.exec(line)?.[1])
    .filter((id): id is string => id !== undefined)
    .map(Number);
}

function prepareFiles(spec: HostSpec) {
  const { dir } = spec;
  rmSync(dir, { recursive: true, force: true });
  for (const sub of ["srv", "root/.ssh", "ssh"]) mkdirSync(join(dir, sub), { recursive: true });
  cpSync("/etc", join(dir, "etc"), { recursive: true, verbatimSymlinks: true });
  chmodSync(join(dir, "root"), 0o700);
  chmodSync(join(dir, "root/.ssh"), 0o700);
  writeFileSync(join(dir, "root/.ssh/authorized_keys"), `${spec.authorizedKeys.join("\n")}\n`, {
    mode: 0o600,
  });
  // A plain shell start-up: the machine's /root/.bashrc would run pyenv on every SSH command.
  writeFileSync(join(dir, "root/.bashrc"), "# emulated droplet\n");
  writeFileSync(
    join(dir, "ssh/host_key"),
    spec.hostKey.endsWith("\n") ? spec.hostKey : `${spec.hostKey}\n`,
    { mode: 0o600 },
  );
  writeFileSync(join(dir, "etc/hostname"), `${spec.name}\n`);
  // Its own name resolves without DNS (Ansible's getfqdn() waits 10 s on a lookup otherwise).
  writeFileSync(join(dir, "etc/hosts"), `127.0.0.1 localhost\n${spec.ip} ${spec.name}\n`);
  writeFileSync(join(dir, "etc/resolv.conf"), "# no DNS inside emulated droplets\n");
  writeFileSync(
    join(dir, "ssh/sshd_config"),
    [
      `ListenAddress ${spec.ip}`,
      "Port 22",
      `HostKey ${join(dir, "ssh/host_key")}`,
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "PidFile /run/sshd.pid",
      "Subsystem sftp internal-sftp",
      "AcceptEnv LANG LC_*",
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(dir, "init.sh"),
    `#!/bin/bash
# PID 1 of an emulated droplet: private directories, its own name, its own sshd.
set -e
mount -t tmpfs tmpfs /run
mkdir -p /run/sshd /run/dropship
mount --bind ${dir}/etc /etc
mount --bind ${dir}/root /root
mount --bind ${dir}/srv /srv
hostname ${spec.name}
/usr/sbin/sshd -D -e -f ${dir}/ssh/sshd_config &
# bash as PID 1 reaps the daemons started over SSH; wait keeps it alive until the host is killed
while true; do wait || true; sleep 1; done
`,
  );
}

/** Puts a droplet's firewall ruleset in force inside its network namespace (nftables). */
export function applyRuleset(id: number, script: string): void {
  run(["ip", "netns", "exec", namespaceOf(id), "nft", "-f", "-"], { input: script });
}
