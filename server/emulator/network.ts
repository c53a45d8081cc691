/**
 * Which of this machine's emulator networks an emulator holds, and the names that follow from
 * it. One emulator runs per network; a second one, on another network, runs beside it with
 * bridges, addresses, namespaces, links, cgroups and daemons of its own (the test suite runs its
 * droplet files in two lanes this way). Network 0, the default, is the one the demo and the
 * docs name: 10.77.0.0/16 public, 10.78.0.0/16 private.
 */
export const EMULATOR_NETWORK_VARIABLE = "DROPSHIP_EMULATOR_NETWORK";
const MAX_NETWORK = 9;

export interface EmulatorNames {
  network: number;
  public: { bridge: string; gateway: string; prefix: string };
  private: { bridge: string; gateway: string; prefix: string };
  /** a droplet's network namespace is this and its id; a load balancer's, the other */
  hostNamespacePrefix: string;
  balancerNamespacePrefix: string;
  /** the first letters of every veth this emulator makes (an interface name has at most 15) */
  vethTag: string;
  /** the emulator's lock, its DNS server's and LXCFS's pid files and mount, its cgroup folder */
  lockFile: string;
  dnsPidFile: string;
  lxcfsDir: string;
  lxcfsPidFile: string;
  cgroupFolder: string;
}

/** A network's number as written, or an error that says what is wrong and what is right. */
export function parseEmulatorNetwork(value: string): number {
  const network = Number(value);
  if (!/^\d+$/.test(value) || network > MAX_NETWORK)
    throw new Error(
      `${JSON.stringify(value)} is not a network: give a whole number from 0 to ${MAX_NETWORK} ` +
        "(network n is 10.(77+2n).0.0/16 public and 10.(78+2n).0.0/16 private), or leave it unset for 0",
    );
  return network;
}

/** The network an environment names: DROPSHIP_EMULATOR_NETWORK, 0 when unset. */
export function emulatorNetworkOf(env: Record<string, string | undefined>): number {
  const value = env[EMULATOR_NETWORK_VARIABLE];
  if (value === undefined || value === "") return 0;
  try {
    return parseEmulatorNetwork(value);
  } catch (error) {
    throw new Error(`${EMULATOR_NETWORK_VARIABLE}: ${(error as Error).message}`);
  }
}

export function emulatorNames(network: number): EmulatorNames {
  const [tag, suffix] = network === 0 ? ["", ""] : [String(network), `-${network}`];
  return {
    network,
    public: {
      bridge: `dsemu${2 * network}`,
      gateway: `10.${77 + 2 * network}.0.1`,
      prefix: `10.${77 + 2 * network}`,
    },
    private: {
      bridge: `dsemu${2 * network + 1}`,
      gateway: `10.${78 + 2 * network}.0.1`,
      prefix: `10.${78 + 2 * network}`,
    },
    hostNamespacePrefix: `dsemu${tag}-`,
    balancerNamespacePrefix: `dslb${tag}-`,
    vethTag: network === 0 ? "ds" : `d${network}`,
    lockFile: `/run/dropship-emulator${suffix}.pid`,
    dnsPidFile: `/run/dropship-emulator${suffix}-dns.pid`,
    lxcfsDir: `/run/dropship-emulator${suffix}-lxcfs`,
    lxcfsPidFile: `/run/dropship-emulator${suffix}-lxcfs.pid`,
    cgroupFolder: `dropship-emulator${suffix}`,
  };
}

/** The ids of the namespaces named `prefix` + id in `ip netns list`'s output. */
export function idsOfNamespaces(list: string, prefix: string): number[] {
  return list
    .split("\n")
    .map((line) => line.split(" ")[0] ?? "")
    .filter((name) => name.startsWith(prefix) && /^\d+$/.test(name.slice(prefix.length)))
    .map((name) => Number(name.slice(prefix.length)));
}

/**
 * How many addresses on its public network an emulator keeps for this machine's visitors
 * besides the gateway: `bun run load --visitors N` sends from N of them, so that the proxy
 * sees N visitors (the canary analysis counts each address apart) where it would see one.
 */
export const VISITOR_ADDRESSES = 64;

/** The n-th (from 0) visitors' address: 10.77.255.1 and on, past every droplet's address. */
export function visitorAddress(names: EmulatorNames, n: number): string {
  if (!Number.isInteger(n) || n < 0 || n >= VISITOR_ADDRESSES)
    throw new RangeError(`visitor address ${n}: there are ${VISITOR_ADDRESSES}, from 0`);
  return `${names.public.prefix}.255.${n + 1}`;
}
