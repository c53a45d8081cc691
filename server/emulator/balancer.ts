import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../shared/proc.ts";
import { REGIONS } from "./catalog.ts";
import { ApiFault, apiTime } from "./fault.ts";
import { addNamespace, removeNamespace } from "./host.ts";
import {
  checkLoadBalancerBody,
  type HaproxyPaths,
  haproxyConfig,
  type LoadBalancerSettings,
  type Target,
  targetsOf,
} from "./load-balancers.ts";
import { idsOfNamespaces } from "./network.ts";
import { EMULATOR } from "./this-network.ts";

/** A load balancer's namespace and the host-side ends of its links to the two networks. */
const namespaceOf = (n: number) => `${EMULATOR.balancerNamespacePrefix}${n}`;
const vethsOf = (n: number) => ({
  public: [`${EMULATOR.vethTag}l${n}h`, `${EMULATOR.vethTag}l${n}c`] as const,
  private: [`${EMULATOR.vethTag}m${n}h`, `${EMULATOR.vethTag}m${n}c`] as const,
});

/**
 * One load balancer carried out by HAProxy (Debian's), in a network namespace of its own with
 * a public and a private address like a droplet's. HAProxy runs as master and worker: a new
 * configuration is a SIGUSR2 to the master, whose new worker takes the listening sockets over
 * (expose-fd listeners), and the server states are saved first so a target known to be down
 * stays down across the reload.
 */
export class Balancer {
  readonly paths: HaproxyPaths;
  private readonly configFile: string;
  /** the master's CLI, which reaches every worker, those still finishing an old configuration too */
  private readonly masterSocket: string;
  private master: ReturnType<typeof Bun.spawn> | undefined;
  /** the configuration in force */
  config = "";

  constructor(
    readonly n: number,
    readonly ip: string,
    readonly privateIp: string,
    private readonly dir: string,
  ) {
    this.configFile = join(dir, "haproxy.cfg");
    this.masterSocket = join(dir, "master.sock");
    this.paths = { socket: join(dir, "admin.sock"), stateFile: join(dir, "servers.state") };
  }

  /** Wires the namespace and starts HAProxy with its first configuration. */
  start(config: string): void {
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
    // an empty state file of format 1: nothing known yet
    writeFileSync(this.paths.stateFile, "1\n");
    const veths = vethsOf(this.n);
    addNamespace(namespaceOf(this.n), {
      public: { ip: this.ip, veth: veths.public },
      private: { ip: this.privateIp, veth: veths.private },
    });
    this.write(config);
    const log = join(this.dir, "haproxy.log");
    writeFileSync(log, "");
    this.master = Bun.spawn(
      [
        ...["ip", "netns", "exec", namespaceOf(this.n)],
        ...["haproxy", "-W", "-db", "-S", this.masterSocket, "-f", this.configFile],
      ],
      { stdin: "ignore", stdout: Bun.file(log), stderr: Bun.file(log) },
    );
    this.master.unref();
  }

  /** A new configuration, taken without closing a connection. */
  async reload(config: string): Promise<void> {
    if (!this.master) return;
    await this.saveServerStates();
    this.write(config);
    this.master.kill("SIGUSR2");
  }

  /** Whether it accepts connections on its public address at this port. */
  async listening(port: number): Promise<boolean> {
    try {
      const socket = await Bun.connect({ hostname: this.ip, port, socket: { data() {} } });
      socket.end();
      return true;
    } catch {
      return false;
    }
  }

  stop(): void {
    this.master?.kill("SIGTERM");
    this.master = undefined;
    removeBalancer(this.n, this.dir);
  }

  /** Checked by HAProxy before it is used: a bad one is the emulator's bug, said at once. */
  private write(config: string) {
    const candidate = `${this.configFile}.new`;
    writeFileSync(candidate, config);
    const checked = Bun.spawnSync(["haproxy", "-c", "-q", "-f", candidate], { stderr: "pipe" });
    if (checked.exitCode !== 0)
      throw new Error(`HAProxy refused the load balancer's configuration: ${checked.stderr}`);
    writeFileSync(this.configFile, config);
    rmSync(candidate);
    this.config = config;
  }

  /**
   * Closes every connection to these servers (`backend/server`: a droplet that is gone), in
   * every worker: a client whose connection was passed through to it hears at once and
   * connects again, instead of waiting on an address that answers nothing. A worker still
   * finishing an older configuration holds connections too, and refuses `shutdown sessions
   * server` there ("Proxy is disabled"), so each session is closed by its own id.
   */
  async shutdownSessions(servers: string[]): Promise<void> {
    if (servers.length === 0) return;
    const gone = new Set(servers);
    const processes = (await this.ask(this.masterSocket, "show proc")) ?? "";
    for (const [, pid] of processes.matchAll(/^(\d+)\s+worker\b/gm)) {
      const sessions = (await this.ask(this.masterSocket, `@!${pid} show sess`)) ?? "";
      const closing = [...sessions.matchAll(/^(0x[0-9a-f]+): .* be=(\S+) srv=(\S+) /gm)]
        .filter(([, , backend, server]) => gone.has(`${backend}/${server}`))
        .map(([, id]) => `@!${pid} shutdown session ${id}`);
      if (closing.length > 0) await this.ask(this.masterSocket, closing.join(";"));
    }
  }

  /** `show servers state` through the admin socket, into the file the next worker reads. */
  private async saveServerStates(): Promise<void> {
    const states = await this.ask(this.paths.socket, "show servers state");
    // no states: every target starts as up, and its checks decide again
    if (states) writeFileSync(this.paths.stateFile, states);
  }

  /**
   * One line to one of HAProxy's sockets (commands separated by `;`); its answer, or undefined
   * when it did not answer. Each command's answer ends with an empty line; the whole is in once
   * there is one per command (waiting for the socket to close could cost a second a call).
   */
  private async ask(socketPath: string, command: string): Promise<string | undefined> {
    if (!existsSync(socketPath)) return undefined;
    const done = Promise.withResolvers<void>();
    const answers = command.split(";").length;
    let text = "";
    try {
      const socket = await Bun.connect({
        unix: socketPath,
        socket: {
          data: (_s, data) => {
            text += data.toString();
            if (text.split("\n\n").length > answers) done.resolve();
          },
          close: () => done.resolve(),
          error: () => done.resolve(),
        },
      });
      socket.write(`${command}\n`);
      await Promise.race([done.promise, Bun.sleep(1000)]);
      socket.end();
      return text;
    } catch {
      return undefined;
    }
  }
}

/** Removes a load balancer's namespace and files (its HAProxy dies with the namespace). */
export function removeBalancer(n: number, dir: string): void {
  const veths = vethsOf(n);
  removeNamespace(namespaceOf(n), [veths.public[0], veths.private[0]]);
  rmSync(dir, { recursive: true, force: true });
}

/** Load balancer namespaces a previous emulator left, by number. */
export function leftoverBalancers(): number[] {
  return idsOfNamespaces(
    run(["ip", "netns", "list"], { allowFailure: true }),
    EMULATOR.balancerNamespacePrefix,
  );
}

interface BalancerRecord extends LoadBalancerSettings {
  id: string;
  status: "new" | "active";
  created_at: string;
}

/**
 * The account's load balancers (/v2/load_balancers). Each one's targets follow the droplets:
 * `dropletsChanged` after a droplet is created or deleted rewrites and reloads every load
 * balancer whose targets moved, as DigitalOcean adds a newly tagged droplet on its own.
 */
export class Balancers {
  private readonly records = new Map<string, { record: BalancerRecord; balancer: Balancer }>();
  private next = 1;

  constructor(
    private readonly dir: string,
    private readonly droplets: () => Target[],
    private readonly allocate: () => { ip: string; privateIp: string },
  ) {}

  /** Clears the load balancers a previous emulator left. */
  clearLeftovers(): void {
    for (const n of leftoverBalancers()) removeBalancer(n, this.dirOf(n));
  }

  create(body: unknown) {
    const settings = this.check(body);
    const n = this.next++;
    const { ip, privateIp } = this.allocate();
    const record: BalancerRecord = {
      id: crypto.randomUUID(),
      status: "new",
      created_at: apiTime(),
      ...settings,
    };
    const balancer = new Balancer(n, ip, privateIp, this.dirOf(n));
    balancer.start(this.configOf(record, balancer));
    this.records.set(record.id, { record, balancer });
    void this.markActiveWhenListening(record, balancer);
    return this.view(record, balancer);
  }

  get(id: string) {
    const { record, balancer } = this.entry(id);
    return this.view(record, balancer);
  }

  list() {
    return [...this.records.values()].map(({ record, balancer }) => this.view(record, balancer));
  }

  /** PUT: every setting replaced by the body's. */
  async update(id: string, body: unknown) {
    const { record, balancer } = this.entry(id);
    Object.assign(record, this.check(body));
    await balancer.reload(this.configOf(record, balancer));
    return this.view(record, balancer);
  }

  delete(id: string): void {
    const { balancer } = this.entry(id);
    balancer.stop();
    this.records.delete(id);
  }

  /** POST or DELETE /v2/load_balancers/:id/droplets: only for one that lists its droplets. */
  async changeDroplets(id: string, adding: boolean, body: unknown): Promise<void> {
    const { record, balancer } = this.entry(id);
    if (record.tag)
      throw new ApiFault(
        422,
        "unprocessable_entity",
        `this load balancer's droplets are those tagged ${record.tag}; tag or untag a droplet instead`,
      );
    const ids = (body as { droplet_ids?: unknown })?.droplet_ids;
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every(Number.isInteger))
      throw new ApiFault(422, "unprocessable_entity", "droplet_ids must be a list of droplet ids");
    const known = new Set(this.droplets().map((d) => d.id));
    const missing = ids.find((d) => !known.has(d));
    if (missing !== undefined)
      throw new ApiFault(422, "unprocessable_entity", `droplet ${missing} does not exist`);
    record.droplet_ids = adding
      ? [...new Set([...record.droplet_ids, ...ids])]
      : record.droplet_ids.filter((d) => !ids.includes(d));
    await balancer.reload(this.configOf(record, balancer));
  }

  /** A droplet came or went: every load balancer whose targets changed is reloaded. */
  async dropletsChanged(gone?: number): Promise<void> {
    for (const { record, balancer } of this.records.values()) {
      if (gone !== undefined) {
        record.droplet_ids = record.droplet_ids.filter((d) => d !== gone);
        if (balancer.config.includes(`server droplet-${gone} `))
          await balancer.shutdownSessions(
            record.forwarding_rules.map((_, i) => `rule${i}/droplet-${gone}`),
          );
      }
      const config = this.configOf(record, balancer);
      if (config !== balancer.config) await balancer.reload(config);
    }
  }

  stop(): void {
    for (const { balancer } of this.records.values()) balancer.stop();
    this.records.clear();
  }

  private check(body: unknown): LoadBalancerSettings {
    const known = new Set(this.droplets().map((d) => d.id));
    const checked = checkLoadBalancerBody(body, (id) => known.has(id));
    if (!checked.ok) throw new ApiFault(422, "unprocessable_entity", checked.message);
    return checked.value;
  }

  private entry(id: string) {
    const found = this.records.get(id);
    if (!found)
      throw new ApiFault(404, "not_found", "The resource you were accessing could not be found.");
    return found;
  }

  private configOf(record: BalancerRecord, balancer: Balancer): string {
    return haproxyConfig(record, balancer.ip, targetsOf(record, this.droplets()), balancer.paths);
  }

  private async markActiveWhenListening(record: BalancerRecord, balancer: Balancer) {
    const port = record.forwarding_rules[0]?.entry_port ?? 80;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && this.records.get(record.id)?.balancer === balancer) {
      if (await balancer.listening(port)) {
        record.status = "active";
        return;
      }
      await Bun.sleep(50);
    }
  }

  /** As the API shows it; the address once it is active, as DigitalOcean's. */
  private view(record: BalancerRecord, balancer: Balancer) {
    const { id, status, created_at, ...settings } = record;
    return {
      id,
      name: settings.name,
      ip: status === "active" ? balancer.ip : "",
      ipv6: "",
      size_unit: 1,
      size: "lb-small",
      algorithm: "round_robin",
      status,
      created_at,
      forwarding_rules: settings.forwarding_rules,
      health_check: settings.health_check,
      sticky_sessions: { type: "none" },
      region: {
        name: REGIONS[settings.region],
        slug: settings.region,
        sizes: ["lb-small"],
        features: [],
        available: true,
      },
      tag: settings.tag,
      droplet_ids: targetsOf(record, this.droplets()).map((d) => d.id),
      redirect_http_to_https: settings.redirect_http_to_https,
      enable_proxy_protocol: settings.enable_proxy_protocol,
      enable_backend_keepalive: settings.enable_backend_keepalive,
      http_idle_timeout_seconds: settings.http_idle_timeout_seconds,
      disable_lets_encrypt_dns_records: false,
      vpc_uuid: settings.vpc_uuid,
      firewall: { allow: [], deny: [] },
    };
  }

  private dirOf(n: number) {
    return join(this.dir, "load-balancers", String(n));
  }
}
