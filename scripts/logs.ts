import { readFleet } from "../pipeline/fleet.ts";
import { parseDuration } from "../server/shared/config/duration.ts";
import type { RoleName } from "../server/shared/config/schema.ts";
import { hostCommands } from "../server/shared/host/layout.ts";
import { cutNotes, mergeLogs, prefixer, proxyHosts, selectHosts } from "../server/shared/logs.ts";
import { ROLES } from "../server/shared/roles.ts";
import { lineSplitter } from "../server/shared/text/lines.ts";
import { auditAction } from "./lib/audit.ts";
import { ArgumentError, FLEET_ENV, runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { connectAll } from "./lib/fleet-ssh.ts";
import { receiverSettings } from "./lib/receiver-env.ts";
import { untilSignal } from "./lib/signals.ts";

const SPEC = {
  verb: "logs",
  usage: ["logs [ROLE|HOST] [-f] [--since 10m] [--lines 100] [--access]"],
  about: `The service logs of every host of a role (production, staging, proxy, redis), of one host, or
of the whole fleet: each service's last --lines lines, or those of the last --since, merged
by time and prefixed by host and service. -f then keeps printing new lines until Ctrl-C.
--access reads the proxy hosts' access log instead: a line for each answer the proxy gave.
Reading is audited on each host (/srv/dropship/audit.log) and in the fleet's audit stream
when REDIS_URL is set.`,
  options: {
    follow: { type: "boolean", short: "f", description: "keep printing new lines until Ctrl-C" },
    since: {
      type: "string",
      value: "DURATION",
      description: "the lines of this last stretch: 30s, 10m, 2h",
    },
    lines: {
      type: "string",
      short: "n",
      value: "N",
      description: "each service's last N lines (default 100)",
    },
    access: {
      type: "boolean",
      description: "the proxies' access log (a line for each answer) instead of the services' logs",
    },
  },
  env: [...FLEET_ENV, "REDIS_URL", "DROPSHIP_ACTOR"],
  positionals: 1,
} satisfies VerbSpec;

await runVerb(SPEC, async (args) => {
  const values = args.values as {
    follow?: boolean;
    since?: string;
    lines?: string;
    access?: boolean;
  };
  const { positionals } = args;
  const settings = receiverSettings();
  const fleet = readFleet(settings.fleet.inventories);
  const selector = positionals[0];
  let hosts: typeof fleet.hosts;
  try {
    hosts = selectHosts(fleet.hosts, selector);
    if (values.access) hosts = proxyHosts(hosts, selector);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  // what is read on each host: its services' logs, or the access log
  const sourcesOf = (role: RoleName) => (values.access ? ["access"] : ROLES[role].services);
  const command = (service: string, options: { lines: number; follow: boolean; since?: string }) =>
    values.access ? hostCommands.accessLog(options) : hostCommands.log(service, options);
  const sinceMs = values.since === undefined ? undefined : parseDuration(values.since);
  if (values.since !== undefined && sinceMs === undefined)
    throw new ArgumentError(
      `--since ${values.since} is not a duration — write it like 30s, 10m, 2h`,
    );
  const lines = Number(values.lines ?? (sinceMs === undefined ? 100 : 20_000));
  if (!Number.isInteger(lines) || lines < 0)
    throw new ArgumentError(`--lines ${values.lines} is not a whole number`);
  const since = sinceMs === undefined ? undefined : Date.now() - sinceMs;

  const connections = await connectAll(fleet, hosts);
  try {
    const detail = [values.since && `since ${values.since}`, values.follow && "follow"].filter(
      Boolean,
    );
    const unaudited = await auditAction(
      {
        kind: "logs",
        target: selector ?? "fleet",
        what: `read the ${values.access ? "access log" : "logs"} of ${hosts.map((h) => h.name).join(", ")}${detail.length ? ` (${detail.join(", ")})` : ""}`,
      },
      connections,
    );
    if (unaudited) console.error(unaudited);
    const reads = hosts.flatMap((host, i) =>
      sourcesOf(host.role).map(async (service) => {
        const ssh = connections[i];
        const sinceText = since === undefined ? undefined : new Date(since).toISOString();
        const asked = command(service, { lines, follow: false, since: sinceText });
        const text = ssh ? (await ssh.exec(asked)).stdout : "";
        return { host: host.name, service, text };
      }),
    );
    const sources = await Promise.all(reads);
    for (const note of cutNotes(sources, lines, since)) console.error(note);
    for (const line of mergeLogs(sources, since)) console.log(line);
    if (!values.follow) return;
    const prefix = prefixer(
      hosts.flatMap((h) => sourcesOf(h.role).map((service) => ({ host: h.name, service }))),
    );
    const follows = hosts.flatMap((host, i) =>
      sourcesOf(host.role).map((service) => {
        const before = prefix({ host: host.name, service });
        return connections[i]?.stream(
          command(service, { lines: 0, follow: true }),
          lineSplitter((line) => console.log(`${before}${line}`)).take,
          () => {}, // tail's notes about a rotated file
        );
      }),
    );
    // or every stream ended: the hosts went away
    await untilSignal(["SIGINT", "SIGTERM"], Promise.all(follows));
  } finally {
    for (const ssh of connections) ssh.close();
  }
});
