import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EMULATOR } from "./this-network.ts";

/** An A record as a DNS server answers it. */
export interface ARecord {
  name: string;
  address: string;
}

/** The hosts file dnsmasq answers from: one `address name` line per A record. */
export function hostsFileText(records: readonly ARecord[]): string {
  return records.map((r) => `${r.address} ${r.name}`).join("\n") + (records.length ? "\n" : "");
}

/** Where the running emulator's dnsmasq says its pid, so the next emulator can find it. */
const PID_FILE = EMULATOR.dnsPidFile;

/**
 * An emulator killed outright leaves its dnsmasq holding the port (dnsmasq changes its
 * credentials, which clears a parent-death signal): the next one stops it by the pid it wrote,
 * once sure that pid is still that dnsmasq.
 */
async function stopLeftover(): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(PID_FILE, "utf8").trim());
  } catch {
    return;
  }
  const cmdline = (() => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
      return "";
    }
  })();
  if (pid > 0 && cmdline.startsWith("dnsmasq\0") && cmdline.includes(`--pid-file=${PID_FILE}`)) {
    process.kill(pid, "SIGTERM");
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && existsSync(`/proc/${pid}/cmdline`)) {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8") === "") break; // a zombie: the port is free
      await Bun.sleep(20);
    }
  }
  rmSync(PID_FILE, { force: true });
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
    // a fresh log: setRecords counts its "read" lines (Bun writes a child's output from offset 0)
    writeFileSync(join(this.dir, "dnsmasq.log"), "");
    await stopLeftover();
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
        `--pid-file=${PID_FILE}`,
        "--log-facility=-",
      ],
      { stdout: "ignore", stderr: Bun.file(join(this.dir, "dnsmasq.log")) },
    );
    await this.untilAnswering();
  }

  /** Replaces every record; resolves once dnsmasq has read them (it says so in its log). */
  async setRecords(records: readonly ARecord[]): Promise<void> {
    writeFileSync(this.hostsFile, hostsFileText(records));
    if (!this.process) return;
    const reads = () => this.log().split(`read ${this.hostsFile}`).length;
    const before = reads();
    this.process.kill("SIGHUP");
    const deadline = Date.now() + 2000;
    while (reads() === before && Date.now() < deadline) await Bun.sleep(2);
  }

  private log(): string {
    try {
      return readFileSync(join(this.dir, "dnsmasq.log"), "utf8");
    } catch {
      return "";
    }
  }

  stop(): void {
    this.process?.kill("SIGTERM");
    this.process = undefined;
  }

  /** dnsmasq reads its records once it listens: this one's own log says when. */
  private async untilAnswering() {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      if (this.process?.exitCode !== null && this.process?.exitCode !== undefined)
        throw new Error(
          `dnsmasq exited (${this.process.exitCode}): ${this.log().trim().split("\n").at(-1)}`,
        );
      if (this.log().includes(`read ${this.hostsFile}`)) return;
      await Bun.sleep(20);
    }
    throw new Error(`dnsmasq did not listen on ${this.address}:${this.port} within 5 s`);
  }
}
