/** One answer the proxy gave, as the access log keeps it. */
export interface AccessEntry {
  /** ms since the epoch, when the answer's head was ready */
  at: number;
  status: number;
  method: string;
  /** the request target; its query is left out (it may carry a token) */
  target: string;
  /** the Host the visitor named, or null */
  host: string | null;
  /** ms from the request to the answer's head */
  ms: number;
  /** the answer's body in bytes, as known at its head (null: a stream without a length) */
  bytes: number | null;
  track: string;
  /** the backend that answered (tried ones, comma-separated, for a 502), or "-" */
  backend: string;
  /** the visitor's address (X-Forwarded-For's, from a trusted proxy) */
  visitor: string;
  requestId: string;
  userAgent: string | null;
}

const MAX_PATH = 1000;
const MAX_USER_AGENT = 300;
/** a DNS name's longest, and a port */
const MAX_HOST = 260;
/** What a value may hold and still go in bare: printable ASCII but `"`, `\` and `=`. */
const BARE = /^[!#-<>-[\]-~]+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it escapes
const ESCAPED = /["\\\x00-\x1f\x7f-\x9f]/g;

/**
 * A value as a line can carry it whatever a stranger sent: bare when it is plain, else quoted,
 * with quotes, backslashes and control characters (C1 too: a terminal may obey them) escaped,
 * so a line is always one line and reads the same on any terminal. Cut at `max` characters.
 */
export function logValue(text: string, max = MAX_PATH): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  if (BARE.test(cut)) return cut;
  return `"${cut.replace(ESCAPED, escapeOne)}"`;
}

function escapeOne(char: string): string {
  if (char === '"') return '\\"';
  if (char === "\\") return "\\\\";
  return `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`;
}

/** The target without its query. */
export function pathOf(target: string): string {
  const query = target.indexOf("?");
  return query < 0 ? target : target.slice(0, query);
}

/** The time at the line's start, made once a millisecond (a busy proxy logs many in one). */
export class Stamp {
  private lastMs = -1;
  private lastText = "";

  of(ms: number): string {
    if (ms !== this.lastMs) {
      this.lastMs = ms;
      this.lastText = new Date(ms).toISOString();
    }
    return this.lastText;
  }
}

/**
 * A value a visitor sends again and again (a user agent, a Host) as logged: escaped once while
 * the same one comes again.
 */
class RepeatedValue {
  private last: string | null = null;
  private lastText = "-";

  constructor(private readonly max: number) {}

  of(value: string | null): string {
    if (value !== this.last) {
      this.last = value;
      this.lastText = value === null ? "-" : logValue(value, this.max);
    }
    return this.lastText;
  }
}

/**
 * Makes the lines: the time first (as every dropship log line, for `bun run logs --since`),
 * then key=value. The track, the backend's id and the request id are the proxy's own (a
 * visitor's X-Request-Id is taken only when it is word characters, `.`, `:` and `-`), so they go
 * in as they are; what else a visitor chose is escaped.
 */
export class AccessLines {
  private readonly stamp = new Stamp();
  private readonly agent = new RepeatedValue(MAX_USER_AGENT);
  private readonly host = new RepeatedValue(MAX_HOST);

  line(entry: AccessEntry): string {
    const ms = Math.round(entry.ms * 10) / 10;
    return `${this.stamp.of(entry.at)} status=${entry.status} method=${logValue(entry.method, 20)} path=${logValue(pathOf(entry.target))} host=${this.host.of(entry.host)} ms=${ms} bytes=${entry.bytes ?? "-"} track=${entry.track} backend=${entry.backend} visitor=${logValue(entry.visitor)} request_id=${entry.requestId} user_agent=${this.agent.of(entry.userAgent)}\n`;
  }
}

/** One line on its own (tests, and the sentence of what a line holds). */
export const accessLine = (entry: AccessEntry): string => new AccessLines().line(entry);
