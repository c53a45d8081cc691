import type { RoleName } from "./config/schema.ts";
import { ROLES } from "./roles.ts";

export interface LogSource {
  host: string;
  service: string;
  /** the text read, lines as the service wrote them */
  text: string;
}

export interface LogLine {
  /** ms since the epoch, from the line's leading timestamp or the last one before it */
  at: number;
  host: string;
  service: string;
  line: string;
}

const STAMP = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)\s/;

/** The time a line starts with, when it starts with one. */
export function stampOf(line: string): number | undefined {
  const match = STAMP.exec(line);
  return match ? Date.parse(match[1] as string) : undefined;
}

/**
 * The lines of every source, merged by time and prefixed by where they came from. A line with
 * no time of its own (a stack trace's second line) keeps the time of the line before it; with
 * `since`, lines older than it are left out, and so are lines whose time cannot be known.
 */
export function mergeLogs(sources: LogSource[], since?: number): string[] {
  const lines: LogLine[] = [];
  for (const source of sources) {
    let at = Number.NEGATIVE_INFINITY;
    for (const line of source.text.split("\n")) {
      if (line === "") continue;
      at = stampOf(line) ?? at;
      if (since !== undefined && !(at >= since)) continue;
      lines.push({ at, host: source.host, service: source.service, line });
    }
  }
  // a stable sort: each source's own order is kept between equal times
  lines.sort((a, b) => a.at - b.at);
  const prefix = prefixer(lines);
  return lines.map((l) => `${prefix(l)}${l.line}`);
}

/** The `host service | ` before each line, padded to the widest of `origins`. */
export function prefixer(
  origins: { host: string; service: string }[],
): (origin: { host: string; service: string }) => string {
  const label = (o: { host: string; service: string }) => `${o.host} ${o.service}`;
  const width = Math.max(0, ...origins.map((o) => label(o).length));
  return (o) => `${label(o).padEnd(width)} | `;
}

export interface NamedHost {
  name: string;
  role: RoleName;
}

/** The hosts a ROLE or HOST argument names (all of them without one), or an error saying what exists. */
export function selectHosts<H extends NamedHost>(hosts: H[], selector: string | undefined): H[] {
  if (selector === undefined) return hosts;
  if (selector in ROLES) {
    const ofRole = hosts.filter((h) => h.role === selector);
    if (ofRole.length === 0) throw new Error(`the fleet has no ${selector} hosts`);
    return ofRole;
  }
  const named = hosts.filter((h) => h.name === selector);
  if (named.length > 0) return named;
  throw new Error(
    `${JSON.stringify(selector)} is neither a role (${Object.keys(ROLES).join(", ")}) nor a host of the fleet (${hosts.map((h) => h.name).join(", ") || "none"})`,
  );
}

/** The proxy hosts among those selected: the access log is theirs, or an error saying where it is. */
export function proxyHosts<H extends NamedHost>(hosts: H[], selector: string | undefined): H[] {
  const proxies = hosts.filter((h) => h.role === "proxy");
  if (proxies.length > 0) return proxies;
  throw new Error(
    `the access log is kept on the proxy hosts, and ${selector === undefined ? "the fleet has none" : `${JSON.stringify(selector)} is not one`}: name a proxy host, the proxy role, or nothing`,
  );
}

/**
 * What a read of a stretch (`since`) left out: a source that gave `lines` lines, as many as
 * were asked for, may have had more before them — said, rather than shown less without a word.
 */
export function cutNotes(sources: LogSource[], lines: number, since: number | undefined): string[] {
  if (since === undefined || lines === 0) return [];
  return sources
    .filter((source) => source.text.split("\n").filter(Boolean).length >= lines)
    .map(
      (source) =>
        `${source.host} ${source.service}: only the last ${lines} lines were read, and the stretch may hold more — raise --lines`,
    );
}
