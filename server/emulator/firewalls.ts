import { parseCidr } from "../shared/net/cidr.ts";

/**
 * DigitalOcean Cloud Firewalls, as the API shows them, and what each means for one droplet as
 * an nftables ruleset. Plain data and plain functions; host.ts applies a ruleset inside the
 * droplet's network namespace.
 *
 * As on DigitalOcean: a droplet no firewall applies to (by id or by tag) takes everything; one
 * with a firewall takes only what some inbound rule allows, and sends only what some outbound
 * rule allows. Rules are stateful: answers to allowed traffic always pass.
 */

export interface Sources {
  addresses?: string[];
  droplet_ids?: number[];
  tags?: string[];
  load_balancer_uids?: string[];
  kubernetes_ids?: string[];
}

export interface InboundRule {
  protocol: "tcp" | "udp" | "icmp";
  ports: string;
  sources: Sources;
}

export interface OutboundRule {
  protocol: "tcp" | "udp" | "icmp";
  ports: string;
  destinations: Sources;
}

export interface Firewall {
  id: string;
  name: string;
  status: "waiting" | "succeeded" | "failed";
  created_at: string;
  pending_changes: { droplet_id: number; removing: boolean; status: string }[];
  inbound_rules: InboundRule[];
  outbound_rules: OutboundRule[];
  droplet_ids: number[];
  tags: string[];
}

/** What a firewall's rules can name: the droplets there are, by id, address and tags. */
export interface DropletView {
  id: number;
  /** public address */
  ip: string;
  /** address in the VPC; a rule naming the droplet (by id or tag) means both */
  privateIp?: string;
  tags: string[];
}

export type Checked<T> = { ok: true; value: T } | { ok: false; message: string };

const NAME = /^[A-Za-z0-9][A-Za-z0-9.-]{0,254}$/;
const PROTOCOLS = new Set(["tcp", "udp", "icmp"]);

/** The body of POST or PUT /v2/firewalls, checked as the API does (422 with its message). */
export function checkFirewallBody(
  body: unknown,
  droplets: ReadonlyMap<number, DropletView>,
): Checked<Pick<Firewall, "name" | "inbound_rules" | "outbound_rules" | "droplet_ids" | "tags">> {
  const input = (body ?? {}) as Record<string, unknown>;
  const name = typeof input.name === "string" ? input.name : "";
  if (!NAME.test(name))
    return fail(
      "name must begin with a letter or digit, followed by letters, digits, dots or dashes",
    );
  const inbound = checkRules(input.inbound_rules, "sources");
  if (!inbound.ok) return inbound;
  const outbound = checkRules(input.outbound_rules, "destinations");
  if (!outbound.ok) return outbound;
  if (inbound.value.length + outbound.value.length === 0)
    return fail("must have at least one inbound or outbound rule");
  const ids = checkDropletIds(input.droplet_ids, droplets);
  if (!ids.ok) return ids;
  const tags = checkTags(input.tags);
  if (!tags.ok) return tags;
  return {
    ok: true,
    value: {
      name,
      inbound_rules: inbound.value as InboundRule[],
      outbound_rules: outbound.value as OutboundRule[],
      droplet_ids: ids.value,
      tags: tags.value,
    },
  };
}

export function checkRules(
  raw: unknown,
  side: "sources" | "destinations",
): Checked<(InboundRule | OutboundRule)[]> {
  if (raw === undefined || raw === null) return { ok: true, value: [] };
  if (!Array.isArray(raw))
    return fail(`${side === "sources" ? "inbound" : "outbound"}_rules must be an array`);
  const rules: (InboundRule | OutboundRule)[] = [];
  for (const [i, item] of raw.entries()) {
    const rule = (item ?? {}) as Record<string, unknown>;
    const where = `${side === "sources" ? "inbound" : "outbound"}_rules[${i}]`;
    if (typeof rule.protocol !== "string" || !PROTOCOLS.has(rule.protocol))
      return fail(`${where}: protocol must be tcp, udp or icmp`);
    const given = rule.protocol === "icmp" ? "0" : String(rule.ports ?? "");
    const range = portRange(given);
    if (!range) return fail(`${where}: ports must be a port, a range like 8000-9000, or all`);
    // the API answers "0" for every port (and always for icmp)
    const ports = range === "all" ? "0" : range;
    const peers = (rule[side] ?? {}) as Record<string, unknown>;
    for (const address of asStrings(peers.addresses)) {
      if (!address.includes(":") && !parseCidr(address))
        return fail(`${where}: ${address} is not a valid address or CIDR`);
    }
    rules.push({
      protocol: rule.protocol as InboundRule["protocol"],
      ports,
      [side]: {
        addresses: asStrings(peers.addresses),
        droplet_ids: asNumbers(peers.droplet_ids),
        tags: asStrings(peers.tags),
        load_balancer_uids: asStrings(peers.load_balancer_uids),
        kubernetes_ids: [],
      },
    } as unknown as InboundRule | OutboundRule);
  }
  return { ok: true, value: rules };
}

export function checkDropletIds(
  raw: unknown,
  droplets: ReadonlyMap<number, DropletView>,
): Checked<number[]> {
  const ids = asNumbers(raw);
  const missing = ids.filter((id) => !droplets.has(id));
  if (missing.length > 0) return fail(`droplet ${missing.join(", ")} not found`);
  return { ok: true, value: [...new Set(ids)] };
}

export function checkTags(raw: unknown): Checked<string[]> {
  const tags = asStrings(raw);
  const bad = tags.find((t) => !/^[A-Za-z0-9:\-_.]{1,255}$/.test(t));
  if (bad !== undefined) return fail(`tag ${JSON.stringify(bad)} is not a valid tag name`);
  return { ok: true, value: [...new Set(tags)] };
}

/** Whether a firewall applies to a droplet: by its id or one of its tags. */
export function appliesTo(firewall: Firewall, droplet: DropletView): boolean {
  return (
    firewall.droplet_ids.includes(droplet.id) || firewall.tags.some((t) => droplet.tags.includes(t))
  );
}

export const TABLE = "dropship_firewall";

/**
 * The nftables script for one droplet: its table replaced atomically (or removed when no
 * firewall applies), in one transaction.
 */
export function rulesetFor(
  droplet: DropletView,
  firewalls: readonly Firewall[],
  droplets: readonly DropletView[],
): string {
  const applied = firewalls.filter((f) => appliesTo(f, droplet));
  const reset = `table inet ${TABLE}\ndelete table inet ${TABLE}\n`;
  if (applied.length === 0) return reset;
  const inbound = applied.flatMap((f) =>
    f.inbound_rules.flatMap((r) => ruleLines(r, r.sources, "saddr", droplets)),
  );
  const outbound = applied.flatMap((f) =>
    f.outbound_rules.flatMap((r) => ruleLines(r, r.destinations, "daddr", droplets)),
  );
  const chain = (name: string, hook: string, iface: string, lines: string[]) =>
    [
      `  chain ${name} {`,
      `    type filter hook ${hook} priority 0; policy drop;`,
      "    ct state established,related accept",
      `    ${iface} lo accept`,
      ...lines.map((line) => `    ${line}`),
      "  }",
    ].join("\n");
  return `${reset}table inet ${TABLE} {\n${chain("inbound", "input", "iif", inbound)}\n${chain("outbound", "output", "oif", outbound)}\n}\n`;
}

function ruleLines(
  rule: { protocol: string; ports: string },
  peers: Sources,
  direction: "saddr" | "daddr",
  droplets: readonly DropletView[],
): string[] {
  const addresses = [
    ...(peers.addresses ?? []).filter((a) => !a.includes(":")),
    ...droplets.filter((d) => (peers.droplet_ids ?? []).includes(d.id)).flatMap(addressesOf),
    ...droplets
      .filter((d) => d.tags.some((t) => (peers.tags ?? []).includes(t)))
      .flatMap(addressesOf),
  ];
  if (addresses.length === 0) return [];
  const anywhere = addresses.some((a) => a.endsWith("/0"));
  const peer = anywhere ? "" : `ip ${direction} { ${[...new Set(addresses)].join(", ")} } `;
  if (rule.protocol === "icmp") return [`${peer}ip protocol icmp accept`];
  const range = portRange(rule.ports);
  const ports =
    range === "all" ? `meta l4proto ${rule.protocol}` : `${rule.protocol} dport ${range}`;
  return [`${peer}${ports} accept`];
}

const addressesOf = (d: DropletView) => (d.privateIp ? [d.ip, d.privateIp] : [d.ip]);

/** "80" → 80, "8000-9000" → 8000-9000, "all" or "0" → all; anything else undefined. */
export function portRange(ports: string): string | undefined {
  if (ports === "all" || ports === "0") return "all";
  const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(ports);
  if (!match) return undefined;
  const low = Number(match[1]);
  const high = Number(match[2] ?? match[1]);
  if (low < 1 || high > 65535 || low > high) return undefined;
  return match[2] ? `${low}-${high}` : String(low);
}

const fail = (message: string): { ok: false; message: string } => ({ ok: false, message });
const asStrings = (raw: unknown): string[] =>
  Array.isArray(raw) ? raw.filter((x): x is string => typeof x === "string") : [];
const asNumbers = (raw: unknown): number[] =>
  Array.isArray(raw) ? raw.map(Number).filter((n) => Number.isInteger(n) && n > 0) : [];
