import { addressBytes } from "./cidr.ts";

/**
 * The PROXY protocol (HAProxy's, versions 1 and 2), which a load balancer passing TLS through
 * sends before a connection's first byte to say whom it came from. Read from the first bytes
 * of a connection:
 * - `none`: the connection does not start with a header;
 * - `more`: it may, but not enough bytes are in yet;
 * - `header`: one of `length` bytes naming the visitor's address (`source`), or undefined for
 *   a LOCAL connection (the load balancer's own, such as a health check) or an unknown family;
 * - `malformed`: it starts like a header and is not one, with why.
 */
export type ProxyHeader =
  | { kind: "none" }
  | { kind: "more" }
  | { kind: "header"; length: number; source: string | undefined }
  | { kind: "malformed"; reason: string };

const V1_PREFIX = "PROXY ";
const V1_PREFIX_BYTES = [...V1_PREFIX].map((c) => c.charCodeAt(0));
/** the longest v1 line the specification allows, CRLF included */
const V1_MAX = 107;
const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
/** addresses and TLVs after v2's 16 bytes: a load balancer's are well under this */
const V2_MAX_BODY = 512;
const PORT = /^(0|[1-9]\d{0,4})$/;

export function readProxyHeader(bytes: Uint8Array): ProxyHeader {
  if (startsWith(bytes, V2_SIGNATURE)) return readV2(bytes);
  if (startsWith(bytes, V1_PREFIX_BYTES)) return readV1(bytes);
  return { kind: "none" };
}

/** Whether `bytes` begins with `prefix`, or is a beginning of it (then only more bytes tell). */
function startsWith(bytes: Uint8Array, prefix: number[]): boolean {
  const n = Math.min(bytes.length, prefix.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

function readV1(bytes: Uint8Array): ProxyHeader {
  if (bytes.length < V1_PREFIX.length) return { kind: "more" };
  const end = bytes.indexOf(0x0a);
  if (end < 0) {
    return bytes.length >= V1_MAX
      ? malformed(`a v1 line longer than ${V1_MAX} bytes`)
      : { kind: "more" };
  }
  if (end + 1 > V1_MAX) return malformed(`a v1 line longer than ${V1_MAX} bytes`);
  if (bytes[end - 1] !== 0x0d) return malformed("a v1 line not ending in CRLF");
  const line = new TextDecoder("latin1").decode(bytes.subarray(0, end - 1));
  const fields = line.split(" ");
  const family = fields[1];
  if (family === "UNKNOWN") return { kind: "header", length: end + 1, source: undefined };
  if (family !== "TCP4" && family !== "TCP6") return malformed(`an unknown family ${family}`);
  if (fields.length !== 6) return malformed("a v1 line without its four fields");
  const [, , source = "", destination = "", sourcePort = "", destinationPort = ""] = fields;
  for (const address of [source, destination])
    if (!isAddressOf(address, family)) return malformed(`${family} with the address ${address}`);
  for (const port of [sourcePort, destinationPort])
    if (!PORT.test(port) || Number(port) > 65535) return malformed(`the port ${port}`);
  return { kind: "header", length: end + 1, source };
}

function isAddressOf(text: string, family: "TCP4" | "TCP6"): boolean {
  const isV4 = /^[\d.]+$/.test(text);
  return (family === "TCP4") === isV4 && addressBytes(text) !== undefined;
}

function readV2(bytes: Uint8Array): ProxyHeader {
  if (bytes.length < 16) return { kind: "more" };
  const versionCommand = bytes[12] as number;
  if (versionCommand >> 4 !== 2) return malformed(`version ${versionCommand >> 4}`);
  const command = versionCommand & 0x0f;
  if (command > 1) return malformed(`the command ${command}`);
  const family = bytes[13] as number;
  const bodyLength = ((bytes[14] as number) << 8) | (bytes[15] as number);
  if (bodyLength > V2_MAX_BODY) return malformed(`${bodyLength} bytes of addresses and TLVs`);
  const length = 16 + bodyLength;
  if (bytes.length < length) return { kind: "more" };
  // LOCAL: the load balancer speaking for itself; the addresses, if any, mean nothing
  if (command === 0) return { kind: "header", length, source: undefined };
  const body = bytes.subarray(16, length);
  switch (family) {
    case 0x11:
      if (bodyLength < 12) return malformed("TCP over IPv4 with fewer than 12 bytes of addresses");
      return { kind: "header", length, source: [...body.subarray(0, 4)].join(".") };
    case 0x21:
      if (bodyLength < 36) return malformed("TCP over IPv6 with fewer than 36 bytes of addresses");
      return { kind: "header", length, source: ipv6Text(body.subarray(0, 16)) };
    case 0x00:
    case 0x31:
      // unspecified, or a Unix socket: no address to give
      return { kind: "header", length, source: undefined };
    default:
      return malformed(`the family and transport 0x${family.toString(16).padStart(2, "0")}`);
  }
}

/** An IPv6 address in the short form (RFC 5952): the longest run of zero groups as `::`. */
export function ipv6Text(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
  let [bestAt, bestLength] = [-1, 1];
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestAt, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(":");
  return `${hex.slice(0, bestAt).join(":")}::${hex.slice(bestAt + bestLength).join(":")}`;
}

const malformed = (reason: string): ProxyHeader => ({ kind: "malformed", reason });
