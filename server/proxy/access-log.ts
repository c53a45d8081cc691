import { closeSync, fstatSync, openSync, renameSync, statSync, writeSync } from "node:fs";
import { type AccessEntry, AccessLines } from "./access-line.ts";

export interface AccessLogOptions {
  /** bytes held before they are written; a quiet proxy writes what it has every `flushMs` */
  flushBytes?: number;
  flushMs?: number;
  say: (line: string) => void;
}

const QUIET_FOR_MS = 60_000;

/**
 * The access log's writer: lines gathered in memory and appended in one write every 64 KB or
 * 200 ms, to a file that several processes (a host's workers, the next release in a handover)
 * append to at once — each write is whole lines, and O_APPEND puts each write after the last.
 * A file rotated away (its name now another file's) is let go and the new one opened at the next
 * write. The log never holds a request up or fails one: what cannot be written is dropped and
 * said, at most once a minute.
 */
export class AccessLog {
  private fd: number | undefined;
  private inode = -1;
  private pending: string[] = [];
  private pendingBytes = 0;
  private readonly lines = new AccessLines();
  private readonly flushBytes: number;
  private readonly timer: ReturnType<typeof setInterval>;
  private lastComplaint = Number.NEGATIVE_INFINITY;
  private dropped = 0;

  constructor(
    readonly path: string,
    private readonly options: AccessLogOptions,
  ) {
    this.flushBytes = options.flushBytes ?? 64 * 1024;
    this.timer = setInterval(() => this.flush(), options.flushMs ?? 200);
    this.timer.unref();
    this.open();
  }

  add(entry: AccessEntry): void {
    const line = this.lines.line(entry);
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.pendingBytes >= this.flushBytes) this.flush();
  }

  flush(): void {
    if (this.pending.length === 0) return;
    const text = this.pending.join("");
    const lines = this.pending.length;
    this.pending = [];
    this.pendingBytes = 0;
    if (this.rotatedAway()) this.open();
    if (this.fd === undefined) {
      this.lost(lines, "it could not be opened");
      return;
    }
    try {
      writeSync(this.fd, text);
    } catch (error) {
      this.lost(lines, (error as Error).message);
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private open(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    try {
      this.fd = openSync(this.path, "a", 0o640);
      this.inode = fstatSync(this.fd).ino;
    } catch (error) {
      this.complain(
        `access log ${this.path}: cannot open it (${(error as Error).message}) — requests are served and not logged; the proxy's user must be able to write there`,
      );
    }
  }

  /** The name now names another file (rotated), or none: the next write goes to a new one. */
  private rotatedAway(): boolean {
    if (this.fd === undefined) return true;
    const now = statSync(this.path, { throwIfNoEntry: false });
    return now === undefined || now.ino !== this.inode;
  }

  private lost(lines: number, why: string): void {
    this.dropped += lines;
    const said = this.complain(
      `access log ${this.path}: ${this.dropped} line(s) not written (${why}) — requests are still served`,
    );
    if (said) this.dropped = 0;
  }

  private complain(line: string): boolean {
    const now = performance.now();
    if (now - this.lastComplaint < QUIET_FOR_MS) return false;
    this.lastComplaint = now;
    this.options.say(line);
    return true;
  }
}

/** The renames that rotate `path`, oldest first: path.(keep-1) → path.keep, …, path → path.1. */
export function rotationSteps(path: string, keep: number): [string, string][] {
  const steps: [string, string][] = [];
  for (let n = keep - 1; n >= 1; n--) steps.push([`${path}.${n}`, `${path}.${n + 1}`]);
  steps.push([path, `${path}.1`]);
  return steps;
}

/**
 * Rotates the log once it holds `maxBytes` or more: the oldest kept file is replaced, and the
 * writers open a new file at their next write. One process a host does it (the supervisor, or
 * the only proxy process).
 */
export function rotateIfLarge(path: string, maxBytes: number, keep: number): boolean {
  const size = statSync(path, { throwIfNoEntry: false })?.size ?? 0;
  if (size < maxBytes) return false;
  for (const [from, to] of rotationSteps(path, keep)) {
    try {
      renameSync(from, to);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  return true;
}

/** Checks the size every second; says what went wrong with a rotation, once a minute at most. */
export function startRotation(
  path: string,
  maxBytes: number,
  keep: number,
  say: (line: string) => void,
  everyMs = 1000,
): () => void {
  let lastComplaint = Number.NEGATIVE_INFINITY;
  const timer = setInterval(() => {
    try {
      rotateIfLarge(path, maxBytes, keep);
    } catch (error) {
      const now = performance.now();
      if (now - lastComplaint < QUIET_FOR_MS) return;
      lastComplaint = now;
      say(`access log ${path}: cannot rotate it (${(error as Error).message})`);
    }
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
