import { randomBytes } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { run } from "../shared/proc.ts";
import type { HostInit } from "./host-init.ts";
import { lxcfsMounts } from "./limits.ts";
import { LXCFS_DIR } from "./lxcfs.ts";
import { idsOfNamespaces, VISITOR_ADDRESSES, visitorAddress } from "./network.ts";
import { EMULATOR } from "./this-network.ts";

/**
 * The emulated droplets' two networks, as on DigitalOcean: a public one (eth0) and the VPC's
 * private one (eth1), each a bridge in the root namespace. This machine has an address on both:
 * on the public one it is the internet, on the private one the control host inside the VPC.
 */
export const NETWORKS = {
  public: { ...EMULATOR.public, device: "eth0" },
  private: { ...EMULATOR.private, device: "eth1" },
} as const;
export type NetworkName = keyof typeof NETWORKS;
const PREFIX = 16;

export interface HostSpec {
  id: number;
  name: string;
  ip: string;
  privateIp: string;
  /** OpenSSH private host key, from user_data or made by the emulator */
  hostKey: string;
  authorizedKeys: string[];
  /** where this host's private directories live */
  dir: string;
  /** its limits by size: the cgroups its first process joins, and where LXCFS is mounted */
  limits?: { cgroupProcs: string[]; lxcfsDir: string };
  /** what runs as its PID 1: a shell that starts sshd, or systemd as on DigitalOcean's images */
  init: HostInit;
}

export const namespaceOf = (id: number) => `${EMULATOR.hostNamespacePrefix}${id}`;
/** The host-side and droplet-side ends of a droplet's link to one network. */
const vethOf = (id: number, network: NetworkName) => {
  const stem = `${EMULATOR.vethTag}${network === "public" ? "e" : "p"}${id}`;
  return [`${stem}h`, `${stem}c`] as const;
};

/** A MAC derived from the address, so a re-created host never leaves stale ARP entries. */
export function macFor(ip: string): string {
  const bytes = ip.split(".").map((n) => Number(n).toString(16).padStart(2, "0"));
  return `02:00:${bytes.join(":")}`;
}

export function ensureBridges(): void {
  for (const { bridge, gateway } of Object.values(NETWORKS)) {
    const exists = run(["ip", "-o", "link", "show", bridge], { allowFailure: true }).includes(
      bridge,
    );
    if (!exists) run(["ip", "link", "add", "name", bridge, "type", "bridge"]);
    // A bridge left to itself takes the lowest MAC among its ports, so deleting one droplet
    // could change this machine's MAC on the network: every other host's ARP entry for it went
    // stale and their packets here were dropped for up to a minute (a load balancer's FIN, seen).
    run(["ip", "link", "set", bridge, "address", macFor(gateway)]);
    const addresses = run(["ip", "-o", "addr", "show", "dev", bridge]);
    if (!addresses.includes(`${gateway}/${PREFIX}`))
      run(["ip", "addr", "add", `${gateway}/${PREFIX}`, "dev", bridge]);
    // visitors' addresses (bun run load --visitors) as /32: no route changes, and this
    // machine's own connections to droplets still go from the gateway
    const visitors = bridge === NETWORKS.public.bridge ? visitorAddresses() : [];
    const missing = visitors.filter((address) => !addresses.includes(` ${address}/32 `));
    if (missing.length > 0)
      run(["ip", "-batch", "-"], {
        input: missing.map((address) => `addr add ${address}/32 dev ${bridge}\n`).join(""),
      });
    run(["ip", "link", "set", bridge, "up"]);
  }
}

const visitorAddresses = () =>
  Array.from({ length: VISITOR_ADDRESSES }, (_, n) => visitorAddress(EMULATOR, n));

/** One network a namespace is wired to: its address there and its veth pair's two names. */
interface Link {
  ip: string;
  veth: readonly [outside: string, inside: string];
}

/**
 * A network namespace with eth0 on the public bridge and eth1 on the VPC's, each with its
 * address and a MAC derived from it, and loopback up: a droplet's, or a load balancer's.
 */
export function addNamespace(ns: string, links: Record<NetworkName, Link>): void {
  run(["ip", "netns", "add", ns]);
  const inNs = (...argv: string[]) => run(["ip", "netns", "exec", ns, ...argv]);
  for (const network of ["public", "private"] as const) {
    const { bridge, device } = NETWORKS[network];
    const { ip, veth } = links[network];
    const [outside, inside] = veth;
    run(["ip", "link", "add", outside, "type", "veth", "peer", "name", inside]);
    run(["ip", "link", "set", inside, "netns", ns]);
    run(["ip", "link", "set", outside, "master", bridge]);
    run(["ip", "link", "set", outside, "up"]);
    inNs("ip", "link", "set", inside, "name", device);
    inNs("ip", "link", "set", device, "address", macFor(ip));
    inNs("ip", "addr", "add", `${ip}/${PREFIX}`, "dev", device);
    inNs("ip", "link", "set", device, "up");
  }
  inNs("ip", "link", "set", "lo", "up");
}

/**
 * Cuts the namespace's links to the bridges, kills whatever still runs in it, and removes it.
 * The links go first, as a droplet deleted in the cloud is switched off: its connections end
 * without a word (no FIN, no RST), and its peers learn of it only by waiting or being told.
 */
export function removeNamespace(ns: string, outsideVeths: readonly string[]): void {
  for (const veth of outsideVeths) run(["ip", "link", "del", veth], { allowFailure: true });
  for (const pidInNs of run(["ip", "netns", "pids", ns], { allowFailure: true })
    .split(/\s+/)
    .filter(Boolean)) {
    try {
      process.kill(Number(pidInNs), "SIGKILL");
    } catch {
      // gone
    }
  }
  run(["ip", "netns", "del", ns], { allowFailure: true });
}

/**
 * Boots a droplet as a real host: a network namespace wired to the bridge, and inside new
 * mount, UTS and PID namespaces a private /etc, /root, /srv and /run, its hostname, and an
 * sshd of its own with the droplet's host key. Answers the pid of the host's outermost
 * process; killing it ends everything that ran on the host.
 */
export function bootHost(spec: HostSpec): number {
  const ns = namespaceOf(spec.id);
  prepareFiles(spec);
  if (spec.init === "systemd") prepareSystemd(spec);
  else prepareShell(spec);
  addNamespace(ns, {
    public: { ip: spec.ip, veth: vethOf(spec.id, "public") },
    private: { ip: spec.privateIp, veth: vethOf(spec.id, "private") },
  });
  // the host's first process joins its cgroups before it becomes the host, so all of it is in them
  const joinCgroups = spec.limits
    ? [
        "sh",
        "-c",
        'while [ "$1" != -- ]; do echo $$ > "$1" || exit 1; shift; done; shift; exec "$@"',
        "sh",
        ...spec.limits.cgroupProcs,
        "--",
      ]
    : [];
  const child = Bun.spawn(
    [...joinCgroups, ...(spec.init === "systemd" ? nspawnArgv(spec, ns) : shellArgv(spec, ns))],
    {
      stdin: "ignore",
      stdout: Bun.file(join(spec.dir, "host.log")),
      stderr: Bun.file(join(spec.dir, "host.log")),
      // nspawn leaves /proc/sys read-only but for this: the playbooks set the proxy's sysctls
      env:
        spec.init === "systemd"
          ? { ...process.env, SYSTEMD_NSPAWN_API_VFS_WRITABLE: "network" }
          : undefined,
    },
  );
  child.unref();
  return child.pid;
}

/** PID 1 a shell (init.sh) in new mount, UTS and PID namespaces inside the network namespace. */
function shellArgv(spec: HostSpec, ns: string): string[] {
  return [
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
  ];
}

/**
 * PID 1 systemd, in a container of this machine's own system (/usr read-only, a fresh /var)
 * with the droplet's /etc, /root and /srv, on the droplet's network namespace. Killing nspawn
 * leaves the container running: it ends with the namespace's processes (destroyHost).
 */
function nspawnArgv(spec: HostSpec, ns: string): string[] {
  return [
    "systemd-nspawn",
    "--boot",
    "--directory=/",
    "--volatile=yes",
    // no system bus here to register with, or to make a scope for it
    "--register=no",
    "--keep-unit",
    "--quiet",
    "--console=passive",
    `--machine=${ns}`,
    `--network-namespace-path=/run/netns/${ns}`,
    // ufw and nftables, as root on a droplet may
    "--capability=CAP_NET_ADMIN,CAP_NET_RAW",
    `--bind=${join(spec.dir, "etc")}:/etc`,
    `--bind=${join(spec.dir, "root")}:/root`,
    `--bind=${join(spec.dir, "srv")}:/srv`,
    // what is installed (dpkg-query): the machine's packages are the droplet's
    "--bind-ro=/var/lib/dpkg",
    // its size's figures: nspawn cannot bind LXCFS's files one by one (it finds none), so
    // the whole of it goes where Debian's lxcfs package mounts it, and a unit binds the files
    ...(spec.limits ? [`--bind-ro=${spec.limits.lxcfsDir}:${LXCFS_IN_CONTAINER}`] : []),
  ];
}

/** Stops everything on the host and removes its namespace, links and files: off the network first. */
export function destroyHost(id: number, pid: number | undefined, dir: string): void {
  for (const network of ["public", "private"] as const)
    run(["ip", "link", "del", vethOf(id, network)[0]], { allowFailure: true });
  if (pid) {
    try {
      // `unshare --fork` ignores SIGTERM; SIGKILL takes the host's PID 1 and so all of it.
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  removeNamespace(
    namespaceOf(id),
    (["public", "private"] as const).map((network) => vethOf(id, network)[0]),
  );
  rmSync(dir, { recursive: true, force: true });
}

/** Namespaces this emulator made that are still there, by id. */
export function leftoverHosts(): number[] {
  return idsOfNamespaces(
    run(["ip", "netns", "list"], { allowFailure: true }),
    EMULATOR.hostNamespacePrefix,
  );
}

const sshdConfig = (hostKey: string) =>
  [
    "ListenAddress 0.0.0.0",
    "Port 22",
    `HostKey ${hostKey}`,
    "PermitRootLogin prohibit-password",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "UsePAM no",
    "PidFile /run/sshd.pid",
    "Subsystem sftp internal-sftp",
    "AcceptEnv LANG LC_*",
    "",
  ].join("\n");

function prepareFiles(spec: HostSpec) {
  const { dir } = spec;
  rmSync(dir, { recursive: true, force: true });
  for (const sub of ["srv", "root/.ssh", "ssh"]) mkdirSync(join(dir, sub), { recursive: true });
  // as the image has it, owners and groups included (cpSync made every file root's: the redis
  // user's /etc/redis, the shadow group's /etc/shadow, ssl-cert's /etc/ssl/private)
  run(["cp", "-a", "/etc", join(dir, "etc")]);
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
  writeFileSync(
    join(dir, "etc/hosts"),
    `127.0.0.1 localhost\n${spec.ip} ${spec.name}\n${spec.privateIp} ${spec.name}\n`,
  );
  // the emulator's DNS server (/v2/domains), which answers at once and forwards nothing
  writeFileSync(join(dir, "etc/resolv.conf"), `nameserver ${NETWORKS.public.gateway}\n`);
}

/** PID 1 a shell that mounts the droplet's own directories over the machine's and starts sshd. */
function prepareShell(spec: HostSpec) {
  const { dir } = spec;
  writeFileSync(join(dir, "ssh/sshd_config"), sshdConfig(join(dir, "ssh/host_key")));
  // before /run is covered: LXCFS's files are under it
  const ownProc = spec.limits
    ? lxcfsMounts(spec.limits.lxcfsDir).join("\n")
    : "# no limits: this machine's /proc";
  writeFileSync(
    join(dir, "init.sh"),
    `#!/bin/bash
# PID 1 of an emulated droplet: its own /proc figures, private directories, its own name and sshd.
set -e
${ownProc}
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

/**
 * The droplet's /etc made a new Debian droplet's for systemd: its own machine id, sshd (the
 * packaged unit) with the droplet's host key and the emulator's settings, and no service of
 * this machine's enabled but sshd.
 */
function prepareSystemd(spec: HostSpec) {
  const etc = join(spec.dir, "etc");
  writeFileSync(join(etc, "machine-id"), `${randomBytes(16).toString("hex")}\n`);
  const ssh = join(etc, "ssh");
  for (const name of readdirSync(ssh))
    if (name.startsWith("ssh_host_")) rmSync(join(ssh, name), { force: true });
  copyFileSync(join(spec.dir, "ssh/host_key"), join(ssh, "ssh_host_droplet_key"));
  chmodSync(join(ssh, "ssh_host_droplet_key"), 0o600);
  writeFileSync(join(ssh, "sshd_config"), sshdConfig("/etc/ssh/ssh_host_droplet_key"));
  const units = join(etc, "systemd/system");
  for (const name of readdirSync(units))
    if (name.endsWith(".wants")) rmSync(join(units, name), { recursive: true, force: true });
  mkdirSync(join(units, "multi-user.target.wants"));
  symlinkSync(
    "/lib/systemd/system/ssh.service",
    join(units, "multi-user.target.wants/ssh.service"),
  );
  rmSync(join(units, "default.target"), { force: true });
  symlinkSync("/lib/systemd/system/multi-user.target", join(units, "default.target"));
  if (spec.limits) {
    writeFileSync(join(units, OWN_PROC_SCRIPT), `${lxcfsMounts(LXCFS_IN_CONTAINER).join("\n")}\n`);
    writeFileSync(join(units, OWN_PROC_UNIT), ownProcUnit());
    mkdirSync(join(units, "sysinit.target.wants"));
    symlinkSync(`../${OWN_PROC_UNIT}`, join(units, "sysinit.target.wants", OWN_PROC_UNIT));
  }
}

/** Where a systemd droplet sees the emulator's LXCFS (Debian's lxcfs package mounts it there). */
const LXCFS_IN_CONTAINER = "/var/lib/lxcfs";

/** Where the emulator's LXCFS is, seen from inside a droplet booted with `init`. */
export function lxcfsInDroplet(init: HostInit): string {
  return init === "systemd" ? LXCFS_IN_CONTAINER : LXCFS_DIR;
}
const OWN_PROC_UNIT = "emulated-droplet-proc.service";
/** Its shell, beside it in /etc/systemd/system (in a file: systemd would expand its `$`s). */
const OWN_PROC_SCRIPT = "emulated-droplet-proc.sh";

/** Binds LXCFS's files over /proc first thing at boot, before anything reads them. */
const ownProcUnit = () =>
  [
    "[Unit]",
    "Description=This emulated droplet's /proc figures, by its size (LXCFS)",
    "DefaultDependencies=no",
    "Before=sysinit.target",
    "",
    "[Service]",
    "Type=oneshot",
    "RemainAfterExit=yes",
    // one shell for all: a process each made it the slowest unit of the boot (0.35 s)
    `ExecStart=/bin/sh -e /etc/systemd/system/${OWN_PROC_SCRIPT}`,
    "",
  ].join("\n");

/** Puts a droplet's firewall ruleset in force inside its network namespace (nftables). */
export function applyRuleset(id: number, script: string): void {
  run(["ip", "netns", "exec", namespaceOf(id), "nft", "-f", "-"], { input: script });
}
