import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** An A record as a DNS server answers it. */
export interface ARecord {
  name: string;
  address: string;
}

/** The hosts file dnsmasq answers from: one `address name` line per A record. */
export function hostsFileText(records: readonly ARecord[]): string {
  return records.map((r) => `${r.address} ${r.name}`).join("\n") + (records.length ? "\n" : "");
}

/**
 * A real DNS server (Debian's dnsmasq) answering only the records it is given, from a hosts
 * file it reads again on SIGHUP; names it does not hold are NXDOMAIN, never forwarded.
 */
export class DnsServer {
  private readonly hostsFile: string;
  private process: ReturnType<typeof Bun.spawn> | undefined;

  constructor(
    private readonly dir: string,
    readonly address: string,
    readonly port: number,
  ) {
    this.hostsFile = join(dir, "dns-hosts");
  }

  async start(records: readonly ARecord[] = []): Promise<void> {
    writeFileSync(this.hostsFile, hostsFileText(records));
    this.process = Bun.spawn(
      [
        "dnsmasq",
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        `--listen-address=${this.address}`,
        `--port=${this.port}`,
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--no-negcache",
        `--addn-hosts=${this.hostsFile}`,
        "--local=/#/",
        "--user=root",
        `--pid-file=${join(this.dir, "dnsmasq.pid")}`,
        "--log-facility=-",
      ],
      { stdout: "ignore", stderr: Bun.file(join(this.dir, "dnsmasq.log")) },
    );
    await this.untilAnswering();
  }

  /** Replaces every record; dnsmasq reads the file again at once. */
  setRecords(records: readonly ARecord[]): void {
    writeFileSync(this.hostsFile, hostsFileText(records));
    this.process?.kill("SIGHUP");
  }

  stop(): void {
    this.process?.kill("SIGTERM");
    this.process = undefined;
  }

  private async untilAnswering() {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      if (this.process?.exitCode !== null && this.process?.exitCode !== undefined)
        throw new Error(
          `dnsmasq exited (${this.process.exitCode}); see ${join(this.dir, "dnsmasq.log")}`,
        );
      const probe = Bun.spawnSync(["ss", "-uln", `sport = :${this.port}`], { stdout: "pipe" });
      if (probe.stdout.toString().includes(`:${this.port}`)) return;
      await Bun.sleep(20);
    }
    throw new Error(`dnsmasq did not listen on ${this.address}:${this.port} within 5 s`);
  }
}
