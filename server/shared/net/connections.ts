import { addressKey } from "./cidr.ts";

/** Whether a new connection may stay: yes, or which limit it is over. */
export type Admission = "admitted" | "address-full" | "full";

export interface ConnectionLimits {
  /** connections this process holds at once, from every address together */
  max: number;
  /** connections one address may hold at once in this process; 0: no limit */
  perAddress: number;
}

/**
 * The connections a process holds (a proxy process, the receiver), counted as they open and
 * close, so that neither one address nor everyone together can take every file the process
 * may open: past that, Bun's listeners spin on a failing accept() at 100% CPU and nobody is
 * answered (measured: a process limited to 400 files, 450 idle connections from one address,
 * five seconds of a full core and no answer to anyone). Exempt addresses (trusted load
 * balancers, which carry many visitors on their connections) count towards the total only.
 */
export class ConnectionBudget {
  private readonly byAddress = new Map<string, number>();
  /** connections admitted and not yet released */
  open = 0;

  constructor(
    readonly limits: ConnectionLimits,
    private readonly isExempt: (address: string) => boolean,
    /** who holds the connections, as a refusal names it */
    readonly holder = "this proxy",
  ) {}

  /** Counts a new connection from `address` in, unless it is over a limit. */
  admit(address: string): Admission {
    if (this.open >= this.limits.max) return "full";
    if (this.limits.perAddress > 0 && !this.isExempt(address)) {
      const key = addressKey(address);
      const held = this.byAddress.get(key) ?? 0;
      if (held >= this.limits.perAddress) return "address-full";
      this.byAddress.set(key, held + 1);
    }
    this.open++;
    return "admitted";
  }

  /** Counts an admitted connection out again. */
  release(address: string): void {
    this.open--;
    const key = addressKey(address);
    const held = this.byAddress.get(key);
    if (held === undefined) return;
    if (held <= 1) this.byAddress.delete(key);
    else this.byAddress.set(key, held - 1);
  }

  /** How many connections `address` (its /64, for IPv6) holds now. */
  heldBy(address: string): number {
    return this.byAddress.get(addressKey(address)) ?? 0;
  }
}

/**
 * What a refused connection is told, as a status and a sentence: over its address's limit,
 * 429 (as nginx's limit_conn answers, with the status set); the process full, 503.
 */
export function refusalFor(
  admission: Exclude<Admission, "admitted">,
  limits: ConnectionLimits,
  holder = "this proxy",
): { status: number; reason: string } {
  if (admission === "address-full")
    return {
      status: 429,
      reason: `This address has ${limits.perAddress} connections open to ${holder} already, the most one address may hold; close some, or send more requests on each (keep-alive), then try again.`,
    };
  const capital = holder.charAt(0).toUpperCase() + holder.slice(1);
  return {
    status: 503,
    reason: `${capital} holds ${limits.max} connections, the most it takes at once; try again in a moment.`,
  };
}

/**
 * A visitor's connection may take up to four of the process's files: its own, the two ends of
 * the loopback connection that passes it to Bun.serve (a body, an upgrade, a PROXY-protocol
 * front), and one to the backend. `auto` keeps a fifth of the open-file limit for visitors, so
 * the rest is always there for the backends' pools, Redis, the health checks and the files
 * the process reads.
 */
export function connectionCap(setting: "auto" | number, openFiles: number): number {
  if (setting !== "auto") return setting;
  return Math.max(16, Math.floor(openFiles / 5));
}

/** The soft limit on open files in `/proc/self/limits`, or undefined when it is not there. */
export function openFileLimit(limits: string): number | undefined {
  const line = /^Max open files\s+(\S+)/m.exec(limits);
  if (!line) return undefined;
  if (line[1] === "unlimited") return Number.MAX_SAFE_INTEGER;
  const value = Number(line[1]);
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/** A start-up line when a cap set by hand is more than the open-file limit can carry. */
export function capWarning(max: number, openFiles: number): string | undefined {
  if (max * 4 <= openFiles) return undefined;
  return `proxy.max_connections is ${max}, but this process may open ${openFiles} files and a connection can take 4: past ~${Math.floor(openFiles / 4)} connections the proxy stops answering anyone. Raise the limit (LimitNOFILE, ulimit -n) or lower proxy.max_connections.`;
}
