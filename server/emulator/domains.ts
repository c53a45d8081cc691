import type { ARecord } from "./dns.ts";

/**
 * DigitalOcean DNS as the API shows it: domains and their records (plain data, checked as the
 * API checks them). The A records are what the emulator's DNS server answers.
 */
export interface DomainRecord {
  id: number;
  type: string;
  name: string;
  data: string;
  priority: number | null;
  port: number | null;
  ttl: number;
  weight: number | null;
  flags: number | null;
  tag: string | null;
}

export interface Domain {
  name: string;
  ttl: number;
  zone_file: string;
  records: DomainRecord[];
}

export type Checked<T> = { ok: true; value: T } | { ok: false; status: number; message: string };

const HOSTNAME = /^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/;
const LABELS = /^(@|\*|(\*\.)?(?!-)[a-z0-9_-]{1,63}(?<!-)(\.(?!-)[a-z0-9_-]{1,63}(?<!-))*)$/;
const TYPES = new Set(["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "CAA"]);
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

const fail = (status: number, message: string) => ({ ok: false as const, status, message });

export function checkDomainBody(
  body: unknown,
  taken: (name: string) => boolean,
): Checked<{ name: string; ip?: string }> {
  const input = (body ?? {}) as Record<string, unknown>;
  const name = typeof input.name === "string" ? input.name.toLowerCase() : "";
  if (!HOSTNAME.test(name)) return fail(422, "Name Only valid hostname characters are allowed.");
  if (taken(name)) return fail(422, "Name already exists");
  const ip = input.ip_address;
  if (ip !== undefined && (typeof ip !== "string" || !IPV4.test(ip)))
    return fail(422, "Ip address is invalid");
  return { ok: true, value: { name, ...(typeof ip === "string" ? { ip } : {}) } };
}

/** A record body for POST (every field) or PATCH (`partial`: only what is given). */
export function checkRecordBody(
  body: unknown,
  partial?: DomainRecord,
): Checked<Omit<DomainRecord, "id">> {
  const input = (body ?? {}) as Record<string, unknown>;
  const type = typeof input.type === "string" ? input.type.toUpperCase() : partial?.type;
  if (!type || !TYPES.has(type)) return fail(422, "Type is not included in the list");
  const name = typeof input.name === "string" ? input.name.toLowerCase() : partial?.name;
  if (!name || !LABELS.test(name))
    return fail(422, "Name Only valid hostname characters are allowed.");
  const data = typeof input.data === "string" ? input.data : partial?.data;
  if (!data) return fail(422, "Data needs to be present");
  if (type === "A" && !IPV4.test(data)) return fail(422, "Data needs to be a valid IPv4 address");
  const ttl = input.ttl === undefined ? (partial?.ttl ?? 1800) : Number(input.ttl);
  if (!Number.isInteger(ttl) || ttl < 30) return fail(422, "Ttl must be at least 30");
  const numberOr = (key: string, fallback: number | null) =>
    input[key] === undefined || input[key] === null ? fallback : Number(input[key]);
  return {
    ok: true,
    value: {
      type,
      name,
      data,
      priority: numberOr("priority", partial?.priority ?? null),
      port: numberOr("port", partial?.port ?? null),
      ttl,
      weight: numberOr("weight", partial?.weight ?? null),
      flags: numberOr("flags", partial?.flags ?? null),
      tag: typeof input.tag === "string" ? input.tag : (partial?.tag ?? null),
    },
  };
}

/** The zone file the API shows for a domain. */
export function zoneFile(domain: { name: string; ttl: number; records: DomainRecord[] }): string {
  const lines = [`$ORIGIN ${domain.name}.`, `$TTL ${domain.ttl}`];
  for (const r of domain.records)
    lines.push(`${r.name} ${r.ttl} IN ${r.type} ${r.type === "CNAME" ? `${r.data}.` : r.data}`);
  return `${lines.join("\n")}\n`;
}

/** Every A record of every domain, by full name (`@` is the domain itself). */
export function aRecordsOf(domains: Iterable<Domain>): ARecord[] {
  const records: ARecord[] = [];
  for (const domain of domains)
    for (const r of domain.records)
      if (r.type === "A" && r.name !== "*")
        records.push({
          name: r.name === "@" ? domain.name : `${r.name}.${domain.name}`,
          address: r.data,
        });
  return records;
}
