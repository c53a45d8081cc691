/** An address block: 16 bytes (IPv4 as ::ffff:a.b.c.d) and how many leading bits count. */
export interface Cidr {
  bytes: Uint8Array;
  bits: number;
}

/** 16 bytes of an IPv4 or IPv6 address in text, or undefined when it is not one. */
export function addressBytes(text: string): Uint8Array | undefined {
  const v4 = ipv4(text);
  if (v4) return mapped(v4);
  return ipv6(text);
}

function ipv4(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) return undefined;
    out.push(Number(part));
  }
  return out;
}

function mapped(v4: number[]): Uint8Array {
  const bytes = new Uint8Array(16);
  bytes[10] = 0xff;
  bytes[11] = 0xff;
  bytes.set(v4, 12);
  return bytes;
}

function ipv6(text: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || text.split("::").length > 2) return undefined;
  const [head = "", tail] = text.split("::");
  const groups = (side: string) => (side === "" ? [] : side.split(":"));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const words: number[] = [];
  const push = (list: string[], last: boolean) => {
    for (const [i, group] of list.entries()) {
      if (last && i === list.length - 1 && group.includes(".")) {
        const v4 = ipv4(group);
        if (!v4) return false;
        words.push(((v4[0] as number) << 8) | (v4[1] as number));
        words.push(((v4[2] as number) << 8) | (v4[3] as number));
      } else if (/^[0-9a-fA-F]{1,4}$/.test(group)) {
        words.push(Number.parseInt(group, 16));
      } else {
        return false;
      }
    }
    return true;
  };
  if (!push(left, tail === undefined)) return undefined;
  const leftWords = words.length;
  if (!push(right, true)) return undefined;
  const missing = 8 - words.length;
  if (tail === undefined ? missing !== 0 : missing < 1) return undefined;
  const all = [...words.slice(0, leftWords), ...Array(missing).fill(0), ...words.slice(leftWords)];
  const bytes = new Uint8Array(16);
  all.forEach((word, i) => {
    bytes[2 * i] = word >> 8;
    bytes[2 * i + 1] = word & 0xff;
  });
  return bytes;
}

/** `10.0.0.0/8`, `2001:db8::/32` or a bare address (a block of one); undefined when invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const [address = "", prefix, extra] = text.trim().split("/");
  if (extra !== undefined) return undefined;
  const bytes = addressBytes(address);
  if (!bytes) return undefined;
  const isV4 = ipv4(address) !== undefined;
  const max = isV4 ? 32 : 128;
  if (prefix !== undefined && !/^\d{1,3}$/.test(prefix)) return undefined;
  const length = prefix === undefined ? max : Number(prefix);
  if (length > max) return undefined;
  return { bytes, bits: isV4 ? 96 + length : length };
}

/** Whether an address (as a peer reports it, `::ffff:` forms included) lies in any block. */
export function inAnyCidr(address: string, blocks: readonly Cidr[]): boolean {
  if (blocks.length === 0) return false;
  const bytes = addressBytes(address.startsWith("::ffff:") ? address.slice(7) : address);
  if (!bytes) return false;
  return blocks.some((block) => covers(block, bytes));
}

function covers({ bytes, bits }: Cidr, address: Uint8Array): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (bytes[i] !== address[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((bytes[whole] as number) & mask) === ((address[whole] as number) & mask);
}

/**
 * What an address is counted under: IPv4 as itself (`::ffff:` forms too), IPv6 by its /64 —
 * one subscriber's whole prefix, from which a stranger could take a new address for every
 * connection.
 */
export function addressKey(address: string): string {
  if (!address.includes(":")) return address;
  if (address.startsWith("::ffff:") && address.includes(".")) return address.slice(7);
  const bytes = addressBytes(address);
  if (!bytes) return address;
  const groups: string[] = [];
  for (let i = 0; i < 8; i += 2)
    groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16));
  return `${groups.join(":")}::/64`;
}

/** IPv6 addresses' keys, worked out once each (~1 µs), as many as a busy minute brings. */
const ipv6Keys = new Map<string, string>();
const IPV6_KEYS_KEPT = 100_000;

/** addressKey for a request's path: IPv4 as it is, an IPv6 address's key remembered. */
export function addressKeyCached(address: string): string {
  if (!address.includes(":")) return address;
  let key = ipv6Keys.get(address);
  if (key === undefined) {
    if (ipv6Keys.size >= IPV6_KEYS_KEPT) ipv6Keys.clear();
    key = addressKey(address);
    ipv6Keys.set(address, key);
  }
  return key;
}
