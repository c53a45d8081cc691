import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeHostKey } from "../shared/cloud/hostkeys.ts";
import type { Size } from "../shared/cloud/sizes.ts";
import { isAlive } from "../shared/proc.ts";
import { Balancers } from "./balancer.ts";
import { IMAGES, REGIONS, SIZES } from "./catalog.ts";
import { Cgroups } from "./cgroups.ts";
import { hostKeyFromUserData } from "./cloudinit.ts";
import { DnsServer } from "./dns.ts";
import {
  aRecordsOf,
  checkDomainBody,
  checkRecordBody,
  type Domain,
  type DomainRecord,
  zoneFile,
} from "./domains.ts";
import { ApiFault, apiTime } from "./fault.ts";
import {
  checkDropletIds,
  checkFirewallBody,
  checkRules,
  checkTags,
  type Firewall,
  rulesetFor,
} from "./firewalls.ts";
import {
  applyRuleset,
  bootHost,
  destroyHost,
  ensureBridges,
  leftoverHosts,
  lxcfsInDroplet,
  NETWORKS,
} from "./host.ts";
import type { HostInit } from "./host-init.ts";
import { limitsFor, lxcfsMounts } from "./limits.ts";
import { LXCFS_DIR, Lxcfs } from "./lxcfs.ts";
import { EMULATOR_NETWORK_VARIABLE } from "./network.ts";
import { ensureProcView } from "./proc-view.ts";
import { EMULATOR } from "./this-network.ts";

export interface SshKey {
  id: number;
  name: string;
  fingerprint: string;
  public_key: string;
}

export interface CreateRequest {
  name?: unknown;
  region?: unknown;
  size?: unknown;
  image?: unknown;
  ssh_keys?: unknown;
  tags?: unknown;
  user_data?: unknown;
  vpc_uuid?: unknown;
}

/** An action as the API shows it (GET /v2/actions/:id). */
export interface DropletAction {
  id: number;
  status: "in-progress" | "completed" | "errored";
  type: string;
  started_at: string;
  completed_at: string | null;
  resource_id: number;
  resource_type: "droplet";
  region: ReturnType<typeof regionView>;
  region_slug: string;
}

/** How long a resize takes here: the limits change at once, the action is seen in progress. */
const RESIZE_MS = 300;

interface DropletRecord {
  id: number;
  name: string;
  region: string;
  size: string;
  image: string;
  tags: string[];
  /** public address (eth0) */
  ip: string;
  /** address in the VPC (eth1) */
  privateIp: string;
  status: "new" | "active";
  created_at: string;
  /** GB; a resize without `disk: true` keeps the disk it had */
  disk?: number;
  pid?: number;
  vpc_uuid: string;
}

/**
 * The emulator's droplets and account keys. Each droplet is a real host (host.ts); creating
 * one answers at once with status "new" and the host turns "active" once its sshd listens.
 */
export class Fleet {
  private readonly droplets = new Map<number, DropletRecord>();
  private readonly keys = new Map<number, SshKey>();
  private readonly firewalls = new Map<string, Firewall>();
  /** the ruleset in force on each droplet, so only a change is applied */
  private readonly rulesets = new Map<number, string>();
  private readonly domains = new Map<string, Domain>();
  private nextId = 100_000_001;
  private nextHost = 10;
  private nextRecord = 3_000_001;
  private nextAction = 2_000_000_001;
  /** DigitalOcean DNS, answered by a real DNS server on the public network's gateway */
  private dns: DnsServer | undefined;

  /** the account's load balancers, carried out by HAProxy */
  readonly balancers: Balancers;
  /** droplets' resize and other actions, by id */
  private readonly actions = new Map<number, DropletAction>();
  /** each droplet limited to its size's CPUs, memory and processes; undefined: unlimited */
  private limits: { cgroups: Cgroups; lxcfs: Lxcfs } | undefined;

  constructor(
    private readonly dir: string,
    /** what every droplet boots as its PID 1 */
    private readonly init: HostInit = "systemd",
  ) {
    this.balancers = new Balancers(
      dir,
      () =>
        [...this.droplets.values()].map((d) => ({
          id: d.id,
          privateIp: d.privateIp,
          tags: d.tags,
        })),
      () => this.allocateAddresses(),
    );
  }

  /** host:port of the DNS server that answers the domains' records, when it runs. */
  get dnsServer(): string | undefined {
    return this.dns ? `${this.dns.address}:${this.dns.port}` : undefined;
  }

  /** Clears whatever a previous emulator left behind, then readies the network. */
  start(): void {
    claimMachine();
    mkdirSync(this.dir, { recursive: true });
    const stateFile = join(this.dir, "state.json");
    if (existsSync(stateFile)) {
      const old = JSON.parse(readFileSync(stateFile, "utf8")) as { droplets?: DropletRecord[] };
      for (const droplet of old.droplets ?? [])
        destroyHost(droplet.id, droplet.pid, this.hostDir(droplet.id));
      rmSync(stateFile);
    }
    for (const id of leftoverHosts()) destroyHost(id, undefined, this.hostDir(id));
    this.balancers.clearLeftovers();
    ensureBridges();
  }

  /**
   * Limits each droplet to its size, as a VM would be: cgroups for its CPUs, memory and
   * processes, and LXCFS so that what reads /proc there sees only the droplet. Where the machine
   * cannot, droplets run unlimited; either way one line says which, and limits.json keeps it
   * for the demo.
   */
  async startLimits(say: (line: string) => void): Promise<void> {
    const cgroups = Cgroups.detect();
    const unlimited = typeof cgroups === "string" ? cgroups : Lxcfs.missing();
    // an earlier emulator's, if it was killed (the folders too: a droplet's creation makes them)
    if (typeof cgroups !== "string") cgroups.removeAll();
    let why = unlimited;
    if (typeof cgroups !== "string" && !unlimited) {
      const lxcfs = new Lxcfs();
      try {
        await lxcfs.start(join(this.dir, "lxcfs.log"));
        this.limits = { cgroups, lxcfs };
      } catch (error) {
        why = (error as Error).message;
      }
    }
    say(
      this.limits
        ? "droplets limited by size: CPU quota, memory and processes (cgroup v1), their own /proc (LXCFS)"
        : `droplets run unlimited, each seeing the whole machine: ${why}`,
    );
    writeFileSync(
      join(this.dir, "limits.json"),
      JSON.stringify(this.limits ? { limited: true } : { limited: false, why }),
    );
  }

  /** Starts the DNS server for /v2/domains; without dnsmasq the API still keeps the records. */
  async startDns(say: (line: string) => void): Promise<void> {
    const dns = new DnsServer(this.dir, NETWORKS.public.gateway, 53);
    try {
      await dns.start(aRecordsOf(this.domains.values()));
      this.dns = dns;
    } catch (error) {
      dns.stop();
      say(
        `no DNS for /v2/domains (${(error as Error).message}); records are kept but not answered`,
      );
    }
  }

  /** Tears every droplet down. */
  stop(): void {
    this.dns?.stop();
    this.balancers.stop();
    for (const droplet of this.droplets.values())
      destroyHost(droplet.id, droplet.pid, this.hostDir(droplet.id));
    this.droplets.clear();
    this.limits?.cgroups.removeAll();
    this.limits?.lxcfs.stop();
    this.save();
    rmSync(LOCK, { force: true });
  }

  addKey(input: { name?: unknown; public_key?: unknown }): SshKey {
    const name = typeof input.name === "string" ? input.name.trim() : "";
    const publicKey = typeof input.public_key === "string" ? input.public_key.trim() : "";
    if (!name) throw new ApiFault(422, "unprocessable_entity", "Name is invalid, can't be blank");
    const fingerprint = fingerprintOf(publicKey);
    if (!fingerprint)
      throw new ApiFault(
        422,
        "unprocessable_entity",
        "Key invalid, key should be of the format `type key [comment]`",
      );
    if ([...this.keys.values()].some((k) => k.fingerprint === fingerprint)) {
      throw new ApiFault(422, "unprocessable_entity", "SSH Key is already in use on your account");
    }
    const key = { id: this.nextId++, name, fingerprint, public_key: publicKey };
    this.keys.set(key.id, key);
    return key;
  }

  listKeys(): SshKey[] {
    return [...this.keys.values()];
  }

  create(input: CreateRequest): ReturnType<Fleet["view"]> {
    const name = typeof input.name === "string" ? input.name : "";
    if (!/^[a-zA-Z0-9][a-zA-Z0-9.-]{0,252}$/.test(name)) {
      throw new ApiFault(
        422,
        "unprocessable_entity",
        "Name Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)",
      );
    }
    const size = knownSize(input.size, "creation");
    const region = typeof input.region === "string" ? input.region : "nyc3";
    if (!(region in REGIONS))
      throw new ApiFault(
        422,
        "unprocessable_entity",
        "You specified an invalid region for Droplet creation.",
      );
    if (typeof input.image !== "string" || !(input.image in IMAGES)) {
      throw new ApiFault(
        422,
        "unprocessable_entity",
        "You specified an invalid image for Droplet creation.",
      );
    }
    const keys = Array.isArray(input.ssh_keys) ? input.ssh_keys : [];
    const authorized = keys.map((ref) => {
      const key = [...this.keys.values()].find(
        (k) => k.id === Number(ref) || k.fingerprint === ref,
      );
      if (!key)
        throw new ApiFault(
          422,
          "unprocessable_entity",
          "You specified an invalid SSH key ID or fingerprint.",
        );
      return key.public_key;
    });
    const tags = Array.isArray(input.tags) ? input.tags.map(String) : [];
    const userData = typeof input.user_data === "string" ? input.user_data : undefined;
    const droplet: DropletRecord = {
      id: this.nextId++,
      name,
      region,
      size: size.slug,
      image: input.image,
      tags,
      ...this.allocateAddresses(),
      status: "new",
      created_at: apiTime(),
      vpc_uuid:
        typeof input.vpc_uuid === "string"
          ? input.vpc_uuid
          : "5a4981aa-9653-4bd1-bef5-d6bff52042e4",
    };
    const limits = this.limits && {
      cgroupProcs: this.limits.cgroups.create(droplet.id, limitsFor(size)),
      lxcfsDir: LXCFS_DIR,
    };
    this.droplets.set(droplet.id, droplet);
    const creation = this.startAction(droplet, "create");
    const hostKey = hostKeyFromUserData(userData) ?? generateHostKey();
    droplet.pid = bootHost({
      limits,
      init: this.init,
      id: droplet.id,
      name,
      ip: droplet.ip,
      privateIp: droplet.privateIp,
      hostKey,
      authorizedKeys: authorized,
      dir: this.hostDir(droplet.id),
    });
    this.save();
    // a new host has no table yet: nft runs only when a firewall applies to it
    this.rulesets.set(droplet.id, rulesetFor(droplet, [], []));
    this.enforceFirewalls();
    void this.markActiveWhenListening(droplet, creation);
    this.balancersFollow();
    return this.view(droplet);
  }

  get(id: number) {
    const droplet = this.droplets.get(id);
    if (!droplet)
      throw new ApiFault(404, "not_found", "The resource you were accessing could not be found.");
    return this.view(droplet);
  }

  list(tag?: string) {
    return [...this.droplets.values()]
      .filter((d) => !tag || d.tags.includes(tag))
      .map((d) => this.view(d));
  }

  delete(id: number): void {
    const droplet = this.droplets.get(id);
    if (!droplet)
      throw new ApiFault(404, "not_found", "The resource you were accessing could not be found.");
    destroyHost(droplet.id, droplet.pid, this.hostDir(droplet.id));
    this.limits?.cgroups.remove(id);
    this.droplets.delete(id);
    this.rulesets.delete(id);
    for (const firewall of this.firewalls.values())
      firewall.droplet_ids = firewall.droplet_ids.filter((d) => d !== id);
    this.save();
    this.enforceFirewalls();
    this.balancersFollow(id);
  }

  /**
   * POST /v2/droplets/:id/actions. `resize` is the one the emulator carries out: the droplet's
   * cgroup limits change in place, so a running droplet sees its new CPUs and memory at once
   * (DigitalOcean powers it off first; the emulator has no power cycle to offer).
   */
  act(id: number, body: unknown): DropletAction {
    const droplet = this.droplets.get(id);
    if (!droplet)
      throw new ApiFault(404, "not_found", "The resource you were accessing could not be found.");
    const input = body && typeof body === "object" ? (body as Record<string, unknown>) : {};
    if (input.type !== "resize")
      throw new ApiFault(
        422,
        "unprocessable_entity",
        typeof input.type === "string" && input.type
          ? `${input.type} is not an action the emulator carries out; it does resize`
          : "Type can't be blank",
      );
    const size = knownSize(input.size, "resize");
    if (input.disk !== undefined && typeof input.disk !== "boolean")
      throw new ApiFault(422, "unprocessable_entity", "Disk must be true or false.");
    const disk = droplet.disk ?? (SIZES.find((s) => s.slug === droplet.size) as Size).disk;
    if (size.disk < disk)
      throw new ApiFault(
        422,
        "unprocessable_entity",
        `The size ${size.slug} has a ${size.disk} GB disk, smaller than this Droplet's ${disk} GB; a disk cannot shrink.`,
      );
    if (this.pendingAction(id))
      throw new ApiFault(422, "unprocessable_entity", "Droplet already has a pending event.");
    const action = this.startAction(droplet, "resize");
    setTimeout(() => {
      if (!this.droplets.has(id)) return this.finishAction(action, "errored");
      try {
        this.limits?.cgroups.apply(id, limitsFor(size));
      } catch (error) {
        console.error(`emulator: resize of ${droplet.name} failed: ${(error as Error).message}`);
        return this.finishAction(action, "errored");
      }
      droplet.size = size.slug;
      droplet.disk = input.disk === true ? size.disk : disk;
      this.save();
      this.finishAction(action, "completed");
    }, RESIZE_MS);
    return action;
  }

  /** GET /v2/actions/:id, or /v2/droplets/:droplet/actions/:id with the droplet given. */
  getAction(id: number, droplet?: number): DropletAction {
    const action = this.actions.get(id);
    if (!action || (droplet !== undefined && action.resource_id !== droplet))
      throw new ApiFault(404, "not_found", "The resource you were accessing could not be found.");
    return action;
  }

  /** GET /v2/droplets/:id/actions, newest first. */
  listActions(droplet: number): DropletAction[] {
    this.get(droplet);
    return [...this.actions.values()].filter((a) => a.resource_id === droplet).reverse();
  }

  /** The action a droplet's creation started, for the link POST /v2/droplets answers. */
  createActionOf(droplet: number): DropletAction | undefined {
    return [...this.actions.values()].find((a) => a.resource_id === droplet && a.type === "create");
  }

  private startAction(droplet: DropletRecord, type: string): DropletAction {
    const action: DropletAction = {
      id: this.nextAction++,
      status: "in-progress",
      type,
      started_at: apiTime(),
      completed_at: null,
      resource_id: droplet.id,
      resource_type: "droplet",
      region: regionView(droplet.region),
      region_slug: droplet.region,
    };
    this.actions.set(action.id, action);
    return action;
  }

  private finishAction(action: DropletAction, status: "completed" | "errored"): void {
    action.status = status;
    action.completed_at = apiTime();
  }

  private pendingAction(droplet: number): boolean {
    return [...this.actions.values()].some(
      (a) => a.resource_id === droplet && a.status === "in-progress" && a.type !== "create",
    );
  }

  createFirewall(body: unknown): Firewall {
    const checked = checkFirewallBody(body, this.droplets);
    if (!checked.ok) throw new ApiFault(422, "unprocessable_entity", checked.message);
    const firewall: Firewall = {
      id: crypto.randomUUID(),
      status: "succeeded",
      created_at: apiTime(),
      pending_changes: [],
      ...checked.value,
    };
    this.firewalls.set(firewall.id, firewall);
    this.enforceFirewalls();
    return firewall;
  }

  getFirewall(id: string): Firewall {
    const firewall = this.firewalls.get(id);
    if (!firewall)
      throw new ApiFault(404, "not_found", "The resource you were accessing could not be found.");
    return firewall;
  }

  listFirewalls(): Firewall[] {
    return [...this.firewalls.values()];
  }

  /** PUT: the whole firewall replaced by the body. */
  updateFirewall(id: string, body: unknown): Firewall {
    const firewall = this.getFirewall(id);
    const checked = checkFirewallBody(body, this.droplets);
    if (!checked.ok) throw new ApiFault(422, "unprocessable_entity", checked.message);
    Object.assign(firewall, checked.value);
    this.enforceFirewalls();
    return firewall;
  }

  deleteFirewall(id: string): void {
    this.getFirewall(id);
    this.firewalls.delete(id);
    this.enforceFirewalls();
  }

  /** POST or DELETE /v2/firewalls/:id/droplets, /tags and /rules. */
  changeFirewall(
    id: string,
    part: "droplets" | "tags" | "rules",
    adding: boolean,
    body: Record<string, unknown>,
  ): void {
    const firewall = this.getFirewall(id);
    const merge = <T>(now: T[], given: T[], same: (a: T, b: T) => boolean) =>
      adding
        ? [...now, ...given.filter((g) => !now.some((n) => same(n, g)))]
        : now.filter((n) => !given.some((g) => same(n, g)));
    const valid = <T>(checked: { ok: true; value: T } | { ok: false; message: string }): T => {
      if (!checked.ok) throw new ApiFault(422, "unprocessable_entity", checked.message);
      return checked.value;
    };
    if (part === "droplets") {
      const ids = valid(checkDropletIds(body.droplet_ids, this.droplets));
      firewall.droplet_ids = merge(firewall.droplet_ids, ids, (a, b) => a === b);
    } else if (part === "tags") {
      firewall.tags = merge(firewall.tags, valid(checkTags(body.tags)), (a, b) => a === b);
    } else {
      const same = (a: object, b: object) => JSON.stringify(a) === JSON.stringify(b);
      const inbound = valid(checkRules(body.inbound_rules, "sources")) as Firewall["inbound_rules"];
      const outbound = valid(
        checkRules(body.outbound_rules, "destinations"),
      ) as Firewall["outbound_rules"];
      firewall.inbound_rules = merge(firewall.inbound_rules, inbound, same);
      firewall.outbound_rules = merge(firewall.outbound_rules, outbound, same);
    }
    this.enforceFirewalls();
  }

  /** Load balancers take a droplet in or out, as DigitalOcean's follow their tag. */
  private balancersFollow(gone?: number): void {
    this.balancers
      .dropletsChanged(gone)
      .catch((error) =>
        console.error(`emulator: a load balancer kept its targets: ${(error as Error).message}`),
      );
  }

  /** Every droplet's nftables ruleset made again from the firewalls; a change is applied. */
  private enforceFirewalls(): void {
    const views = [...this.droplets.values()];
    const firewalls = [...this.firewalls.values()];
    for (const droplet of views) {
      const script = rulesetFor(droplet, firewalls, views);
      if (this.rulesets.get(droplet.id) === script) continue;
      applyRuleset(droplet.id, script);
      this.rulesets.set(droplet.id, script);
    }
  }

  async createDomain(body: unknown) {
    const checked = checkDomainBody(body, (name) => this.domains.has(name));
    if (!checked.ok) throw new ApiFault(checked.status, "unprocessable_entity", checked.message);
    const domain: Domain = { name: checked.value.name, ttl: 1800, zone_file: "", records: [] };
    const record = (type: string, name: string, data: string): DomainRecord => ({
      id: this.nextRecord++,
      type,
      name,
      data,
      priority: null,
      port: null,
      ttl: 1800,
      weight: null,
      flags: null,
      tag: null,
    });
    // as DigitalOcean: its name servers, and the apex A record when an address was given
    for (const ns of ["ns1", "ns2", "ns3"])
      domain.records.push(record("NS", "@", `${ns}.digitalocean.com`));
    if (checked.value.ip) domain.records.push(record("A", "@", checked.value.ip));
    this.domains.set(domain.name, domain);
    await this.dnsChanged();
    return this.domainView(domain);
  }

  listDomains() {
    return [...this.domains.values()].map((d) => this.domainView(d));
  }

  getDomain(name: string) {
    return this.domainView(this.domainOf(name));
  }

  async deleteDomain(name: string): Promise<void> {
    this.domainOf(name);
    this.domains.delete(name);
    await this.dnsChanged();
  }

  listRecords(name: string, filter: { type?: string; name?: string } = {}): DomainRecord[] {
    const domain = this.domainOf(name);
    const full = (r: DomainRecord) => (r.name === "@" ? domain.name : `${r.name}.${domain.name}`);
    return domain.records.filter(
      (r) => (!filter.type || r.type === filter.type) && (!filter.name || full(r) === filter.name),
    );
  }

  async createRecord(name: string, body: unknown): Promise<DomainRecord> {
    const domain = this.domainOf(name);
    const checked = checkRecordBody(body);
    if (!checked.ok) throw new ApiFault(checked.status, "unprocessable_entity", checked.message);
    const record = { id: this.nextRecord++, ...checked.value };
    domain.records.push(record);
    await this.dnsChanged();
    return record;
  }

  async updateRecord(name: string, id: number, body: unknown): Promise<DomainRecord> {
    const domain = this.domainOf(name);
    const record = domain.records.find((r) => r.id === id);
    if (!record)
      throw new ApiFault(404, "not_found", "The resource you were accessing could not be found.");
    const checked = checkRecordBody(body, record);
    if (!checked.ok) throw new ApiFault(checked.status, "unprocessable_entity", checked.message);
    Object.assign(record, checked.value);
    await this.dnsChanged();
    return record;
  }

  async deleteRecord(name: string, id: number): Promise<void> {
    const domain = this.domainOf(name);
    if (!domain.records.some((r) => r.id === id))
      throw new ApiFault(404, "not_found", "The resource you were accessing could not be found.");
    domain.records = domain.records.filter((r) => r.id !== id);
    await this.dnsChanged();
  }

  private domainOf(name: string): Domain {
    const domain = this.domains.get(name.toLowerCase());
    if (!domain)
      throw new ApiFault(404, "not_found", "The resource you were accessing could not be found.");
    return domain;
  }

  private domainView(domain: Domain) {
    return { name: domain.name, ttl: domain.ttl, zone_file: zoneFile(domain) };
  }

  private async dnsChanged(): Promise<void> {
    await this.dns?.setRecords(aRecordsOf(this.domains.values()));
  }

  /** The droplet as the API shows it. */
  view(droplet: DropletRecord) {
    const size = SIZES.find((s) => s.slug === droplet.size) as (typeof SIZES)[number];
    const image = IMAGES[droplet.image] ?? { id: 0, distribution: "", name: "" };
    const active = droplet.status === "active";
    const address = (type: "public" | "private") => ({
      ip_address: type === "public" ? droplet.ip : droplet.privateIp,
      netmask: "255.255.0.0",
      gateway: NETWORKS[type].gateway,
      type,
    });
    return {
      id: droplet.id,
      name: droplet.name,
      memory: size.memory,
      vcpus: size.vcpus,
      disk: droplet.disk ?? size.disk,
      locked: false,
      status: droplet.status,
      created_at: droplet.created_at,
      features: ["private_networking"],
      backup_ids: [],
      snapshot_ids: [],
      image: {
        id: image.id,
        name: image.name,
        distribution: image.distribution,
        slug: droplet.image,
        public: true,
      },
      size: { ...size, available: true, regions: Object.keys(REGIONS), transfer: 1 },
      size_slug: droplet.size,
      networks: { v4: active ? [address("public"), address("private")] : [], v6: [] },
      region: regionView(droplet.region),
      tags: droplet.tags,
      volume_ids: [],
      vpc_uuid: droplet.vpc_uuid,
    };
  }

  private async markActiveWhenListening(droplet: DropletRecord, creation: DropletAction) {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && this.droplets.has(droplet.id)) {
      try {
        const socket = await Bun.connect({
          hostname: droplet.privateIp,
          port: 22,
          socket: { data() {} },
        });
        socket.end();
        await this.checkProcView(droplet);
        droplet.status = "active";
        this.finishAction(creation, "completed");
        this.save();
        return;
      } catch {
        await Bun.sleep(50);
      }
    }
  }

  /** A limited droplet sees its size in /proc before it is active; a line says when it did not. */
  private async checkProcView(droplet: DropletRecord) {
    if (!this.limits || droplet.pid === undefined) return;
    const size = SIZES.find((s) => s.slug === droplet.size) as Size;
    const found = await ensureProcView(
      droplet.pid,
      size.memory,
      lxcfsMounts(lxcfsInDroplet(this.init)).join("\n"),
    );
    if (found && this.droplets.has(droplet.id))
      console.error(`emulator: droplet ${droplet.name}'s /proc ${found}`);
  }

  /** The n-th droplet is 10.77.a.b on the public network and 10.78.a.b in the VPC (network 0). */
  private allocateAddresses(): { ip: string; privateIp: string } {
    const n = this.nextHost++;
    // x.x.255.* is this machine's visitors' (visitorAddress)
    if (Math.floor(n / 250) >= 255)
      throw new Error(
        `the emulator's network has no address left for droplet number ${n + 1}; start the emulator afresh`,
      );
    const host = `${Math.floor(n / 250)}.${(n % 250) + 2}`;
    return {
      ip: `${NETWORKS.public.prefix}.${host}`,
      privateIp: `${NETWORKS.private.prefix}.${host}`,
    };
  }

  private hostDir(id: number) {
    return join(this.dir, "droplets", String(id));
  }

  private save() {
    // the state dir may be gone already (a test that removed it); the hosts are what matter
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(
      join(this.dir, "state.json"),
      JSON.stringify({ droplets: [...this.droplets.values()] }, null, 2),
    );
  }
}

/** Droplet ids, names and addresses are the network's: one emulator runs on it at a time. */
const LOCK = EMULATOR.lockFile;

function claimMachine() {
  if (existsSync(LOCK)) {
    const pid = Number(readFileSync(LOCK, "utf8"));
    if (pid && pid !== process.pid && isAlive(pid)) {
      throw new Error(
        `another emulator (pid ${pid}) is running on this machine's emulator network ${EMULATOR.network}; stop it first (its droplets share ${NETWORKS.public.prefix}.0.0/16 and ${NETWORKS.private.prefix}.0.0/16), or give this one another network with ${EMULATOR_NETWORK_VARIABLE}`,
      );
    }
  }
  writeFileSync(LOCK, String(process.pid));
}

/** A size the API offers, or its 422 for this call. */
function knownSize(slug: unknown, call: "creation" | "resize"): Size {
  const size = SIZES.find((s) => s.slug === slug);
  if (!size)
    throw new ApiFault(
      422,
      "unprocessable_entity",
      `You specified an invalid size for Droplet ${call}.`,
    );
  return size;
}

function regionView(slug: string) {
  return {
    slug,
    name: REGIONS[slug],
    available: true,
    features: ["private_networking"],
    sizes: SIZES.map((s) => s.slug),
  };
}

function fingerprintOf(publicKey: string): string | undefined {
  const [type, blob] = publicKey.split(/\s+/);
  if (!type?.startsWith("ssh-") && !type?.startsWith("ecdsa-")) return undefined;
  if (!blob || !/^[A-Za-z0-9+/]+=*$/.test(blob)) return undefined;
  const md5 = new Bun.CryptoHasher("md5").update(Buffer.from(blob, "base64")).digest("hex");
  return md5.match(/../g)?.join(":");
}

function generateHostKey(): string {
  return makeHostKey("emulated-droplet").privateKey;
}
