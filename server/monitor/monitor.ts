import { statfsSync } from "node:fs";
import type { Mailer } from "../shared/mailer.ts";
import type { Alert } from "../shared/routing/model.ts";
import { beingReplaced, type HostReport, listHosts, reportHost } from "../shared/state/hosts.ts";
import type { StateCommands } from "../shared/state/redis.ts";
import { changeCanary, clearAlert, raiseAlert } from "../shared/state/routing.ts";
import { composeMail } from "./mail.ts";
import { due, type GateState, NEW_GATE, offer, settle } from "./mailgate.ts";
import { type CpuTimes, cpuPercent, diskPercent, parseCpu, parseMemoryPercent } from "./procfs.ts";
import {
  checkSilence,
  INITIAL,
  type Rule,
  type RuleState,
  type SilenceState,
  step,
  type Transition,
} from "./rules.ts";

export interface MonitorOptions {
  host: string;
  /** the host's own address, so its figures can be matched with the proxy's backends */
  address?: string;
  role: string;
  release: string;
  rules: Rule[];
  /** the filesystem the disk rule watches: the root one on a droplet */
  diskPath: string;
  intervalMs: number;
  noDataMs: number;
  /** least time between two mails about one host */
  mailGapMs: number;
  /** also watch every other host in Redis for silence */
  watch: boolean;
  afterAlert: "stay_off" | "resume";
  redis: StateCommands;
  mailer?: Mailer;
  dashboardUrl?: string;
  log: (line: string) => void;
}

const CANARY_ROLES = new Set(["proxy", "staging"]);
const LABEL = { cpu: "CPU", memory: "memory", disk: "disk" } as const;

/** Samples this host, runs the rules, keeps Redis's alerts in step, and mails people. */
export class Monitor {
  readonly latest = { cpu: 0, memory: 0, disk: 0, at: 0, samples: 0 };
  readonly firing = new Map<string, Alert>();
  private readonly states = new Map<string, RuleState>();
  private readonly silences = new Map<string, SilenceState>();
  private readonly gates = new Map<string, GateState>();
  private readonly hostInfo = new Map<string, Pick<HostReport, "role" | "release">>();
  /** other hosts seen marked as being replaced by the heal, while their figures stay */
  private readonly replacing = new Set<string>();
  /** alert ids whose raise or clear has not reached Redis yet */
  private readonly unsynced = new Set<string>();
  private previousCpu: CpuTimes | undefined;
  private timers: Timer[] = [];
  private redisDown = false;

  constructor(private readonly options: MonitorOptions) {}

  async start(): Promise<void> {
    this.previousCpu = parseCpu(await Bun.file("/proc/stat").text());
    this.timers.push(setInterval(() => void this.tick(), this.options.intervalMs));
    this.timers.push(setInterval(() => this.flushMail(), 1000));
  }

  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
  }

  async tick(now = Date.now()): Promise<void> {
    const { host, role, release } = this.options;
    const times = parseCpu(await Bun.file("/proc/stat").text());
    const cpu = this.previousCpu ? cpuPercent(this.previousCpu, times) : 0;
    this.previousCpu = times;
    const memory = parseMemoryPercent(await Bun.file("/proc/meminfo").text());
    // a disk that cannot be read (its folder removed) must not stop the CPU and memory rules
    const disk = this.diskNow();
    const values = { cpu, memory, disk: disk ?? this.latest.disk };
    Object.assign(this.latest, { ...values, at: now, samples: this.latest.samples + 1 });
    this.hostInfo.set(host, { role, release });

    for (const rule of this.options.rules) {
      if (rule.metric === "disk" && disk === undefined) continue;
      const id = `${rule.metric}:${host}`;
      const value = values[rule.metric];
      const result = step(rule, this.states.get(id) ?? INITIAL, value, now);
      this.states.set(id, result.state);
      if (!result.transition) continue;
      const since = new Date(result.state.since ?? now).toISOString();
      const detail =
        result.transition === "resolved"
          ? `${LABEL[rule.metric]} ${value.toFixed(1)}% is below ${rule.clearBelow}% again`
          : `${LABEL[rule.metric]} ${value.toFixed(1)}% above ${rule.threshold}% since ${since}`;
      this.transition(id, host, role, result.transition, detail, CANARY_ROLES.has(role), now);
    }

    await this.redisStep(async (redis) => {
      const address = this.options.address;
      await reportHost(redis, {
        host,
        role,
        cpu,
        memory,
        at: now,
        release,
        ...(address ? { address } : {}),
      });
      if (this.options.watch) await this.watchOthers(redis, now);
      await this.syncAlerts(redis);
    });
  }

  private diskFault = false;

  private diskNow(): number | undefined {
    try {
      const percent = diskPercent(statfsSync(this.options.diskPath));
      this.diskFault = false;
      return percent;
    } catch (error) {
      if (!this.diskFault)
        this.options.log(
          `cannot read the disk at ${this.options.diskPath}: ${(error as Error).message}`,
        );
      this.diskFault = true;
      return undefined;
    }
  }

  private async watchOthers(redis: StateCommands, now: number) {
    const reports = await listHosts(redis);
    this.forgetDeparted(new Set(reports.map((report) => report.host)), now);
    // the heal's marks are read only for hosts that have gone quiet: none, most ticks
    const quiet = reports
      .filter((r) => r.host !== this.options.host && now - r.at >= this.options.noDataMs)
      .map((r) => r.host);
    const marks = await beingReplaced(redis, quiet);
    for (const host of quiet) {
      const why = marks.get(host);
      if (why === undefined)
        this.replacing.delete(host); // the heal failed: news again
      else if (!this.replacing.has(host)) {
        this.replacing.add(host);
        this.options.log(`${host} is silent; the heal is replacing it (${why}), and mails that`);
      }
    }
    for (const report of reports) {
      if (report.host === this.options.host) continue;
      this.hostInfo.set(report.host, { role: report.role, release: report.release });
      const id = `nodata:${report.host}`;
      const result = checkSilence(
        this.silences.get(id) ?? { silent: false, since: null },
        report.at,
        now,
        this.options.noDataMs,
        marks.has(report.host),
      );
      this.silences.set(id, result.state);
      if (!result.transition) continue;
      const detail =
        result.transition === "firing"
          ? `no figures from ${report.host} since ${new Date(report.at).toISOString()}`
          : `${report.host} reports again`;
      this.transition(id, report.host, report.role, result.transition, detail, false, now);
    }
  }

  /**
   * A host whose figures are gone left the fleet: a scale-in or a heal forgot it (and cleared
   * its alerts in Redis). Its silence, if it was one, ends with a mail saying so; before, the
   * person heard of the silence and never of its end, and the alert stayed in the metrics. A
   * host seen being replaced ends without a mail of its own: the heal's mail says it is
   * replaced, and with what.
   */
  private forgetDeparted(listed: Set<string>, now: number) {
    for (const [id, state] of this.silences) {
      const host = id.slice("nodata:".length);
      if (listed.has(host)) continue;
      this.silences.delete(id);
      const replaced = this.replacing.delete(host);
      if (!state.silent) continue;
      const role = this.hostInfo.get(host)?.role ?? "unknown";
      if (replaced) {
        this.transition(id, host, role, "resolved", `${host} was replaced`, false, now, false);
        continue;
      }
      this.transition(
        id,
        host,
        role,
        "resolved",
        `${host} left the fleet (scaled in or replaced)`,
        false,
        now,
      );
    }
  }

  private transition(
    id: string,
    host: string,
    role: string,
    transition: Transition,
    detail: string,
    canary: boolean,
    now: number,
    mail = true,
  ) {
    this.options.log(`${transition}: ${id}: ${detail}${mail ? "" : " (the heal's mail tells it)"}`);
    if (transition === "firing") {
      this.firing.set(id, {
        id,
        source: host,
        role,
        summary: detail,
        since: new Date(now).toISOString(),
        canary,
      });
      this.unsynced.add(id);
    } else if (transition === "resolved") {
      this.firing.delete(id);
      this.unsynced.add(id);
    }
    const gate = this.gates.get(host) ?? NEW_GATE;
    this.gates.set(
      host,
      mail ? offer(gate, { alertId: id, host, transition, detail }) : settle(gate, id),
    );
  }

  /** Brings Redis's alerts in line with this monitor's, retrying what failed before. */
  private async syncAlerts(redis: StateCommands) {
    const actor = `dropship-monitor@${this.options.host}`;
    for (const id of [...this.unsynced]) {
      const alert = this.firing.get(id);
      if (alert) {
        await raiseAlert(redis, alert, actor);
        if (alert.canary && this.options.afterAlert === "stay_off") {
          await changeCanary(
            redis,
            { state: "aborted", reason: `alert ${id}: ${alert.summary}` },
            actor,
          );
        }
      } else {
        await clearAlert(redis, id, actor);
      }
      this.unsynced.delete(id);
    }
  }

  private async redisStep(work: (redis: StateCommands) => Promise<void>) {
    try {
      await work(this.options.redis);
      if (this.redisDown)
        this.options.log("Redis is reachable again; figures and alerts are current");
      this.redisDown = false;
    } catch (error) {
      if (!this.redisDown) {
        this.options.log(
          `cannot reach Redis (${(error as Error).message}); sampling and mail go on`,
        );
      }
      this.redisDown = true;
    }
  }

  private flushMail() {
    const now = Date.now();
    for (const [host, gate] of this.gates) {
      const { gate: next, send } = due(gate, now, this.options.mailGapMs);
      this.gates.set(host, next);
      if (send.length === 0) continue;
      const info = this.hostInfo.get(host) ?? { role: "unknown", release: "unknown" };
      const mail = composeMail(send, { host, ...info, dashboardUrl: this.options.dashboardUrl });
      if (this.options.mailer) this.options.mailer.send(mail);
      else this.options.log(`no SMTP_URL: would have mailed "${mail.subject}"`);
    }
  }
}
