import { expect, test } from "bun:test";
import {
  EMULATOR_NETWORK_VARIABLE,
  emulatorNames,
  emulatorNetworkOf,
  idsOfNamespaces,
  VISITOR_ADDRESSES,
  visitorAddress,
} from "../../../server/emulator/network.ts";

test("network 0 keeps the names the demo and the docs give; unset or empty is 0", () => {
  expect(emulatorNetworkOf({})).toBe(0);
  expect(emulatorNetworkOf({ [EMULATOR_NETWORK_VARIABLE]: "" })).toBe(0);
  expect(emulatorNames(0)).toEqual({
    network: 0,
    public: { bridge: "dsemu0", gateway: "10.77.0.1", prefix: "10.77" },
    private: { bridge: "dsemu1", gateway: "10.78.0.1", prefix: "10.78" },
    hostNamespacePrefix: "dsemu-",
    balancerNamespacePrefix: "dslb-",
    vethTag: "ds",
    lockFile: "/run/dropship-emulator.pid",
    dnsPidFile: "/run/dropship-emulator-dns.pid",
    lxcfsDir: "/run/dropship-emulator-lxcfs",
    lxcfsPidFile: "/run/dropship-emulator-lxcfs.pid",
    cgroupFolder: "dropship-emulator",
  });
});

test("every other network shares no bridge, address, name or file with another", () => {
  const all = [0, 1, 2, 9].map((n) =>
    emulatorNames(emulatorNetworkOf({ DROPSHIP_EMULATOR_NETWORK: String(n) })),
  );
  expect(all[1]?.public).toEqual({ bridge: "dsemu2", gateway: "10.79.0.1", prefix: "10.79" });
  expect(all[1]?.private).toEqual({ bridge: "dsemu3", gateway: "10.80.0.1", prefix: "10.80" });
  for (const key of [
    "hostNamespacePrefix",
    "balancerNamespacePrefix",
    "vethTag",
    "lockFile",
    "dnsPidFile",
    "lxcfsDir",
    "cgroupFolder",
  ] as const)
    expect(new Set(all.map((names) => names[key])).size).toBe(all.length);
  const values = all.flatMap((names) => [
    names.public.bridge,
    names.private.bridge,
    names.public.prefix,
    names.private.prefix,
  ]);
  expect(new Set(values).size).toBe(values.length);
  // the longest veth: the tag, a letter, a droplet id of 6 digits and h or c, within 15 bytes
  expect(`${all[3]?.vethTag}e999999h`.length).toBeLessThanOrEqual(15);
});

test("a network that is not a whole number from 0 to 9 is refused, with what to give", () => {
  for (const bad of ["10", "-1", "1.5", "one", " 1"])
    expect(() => emulatorNetworkOf({ [EMULATOR_NETWORK_VARIABLE]: bad })).toThrow(
      `${EMULATOR_NETWORK_VARIABLE}: ${JSON.stringify(bad)} is not a network: give a whole number from 0 to 9`,
    );
});

test("a network's namespaces are told from the other networks' by their whole prefix", () => {
  const list = "dsemu-3 (id: 1)\ndsemu1-4 (id: 2)\ndsemu-12\ndslb-1\ndsemu-x\ndsout-99\n";
  expect(idsOfNamespaces(list, "dsemu-")).toEqual([3, 12]);
  expect(idsOfNamespaces(list, "dsemu1-")).toEqual([4]);
  expect(idsOfNamespaces(list, "dslb-")).toEqual([1]);
});

test("the emulator refuses a bad network as a setting's fault, before it touches the machine", () => {
  const main = Bun.spawnSync(
    [process.execPath, `${import.meta.dir}/../../../server/emulator/main.ts`],
    {
      env: {
        PATH: process.env.PATH ?? "",
        DIGITALOCEAN_TOKEN: "t",
        [EMULATOR_NETWORK_VARIABLE]: "x",
      },
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  expect(main.exitCode).toBe(2);
  expect(main.stderr.toString()).toContain(
    `bad settings: ${EMULATOR_NETWORK_VARIABLE}: "x" is not a network: give a whole number from 0 to 9`,
  );
});

test("the visitors' addresses lie on each network's public side, past every droplet's, 64 of them", () => {
  expect(visitorAddress(emulatorNames(0), 0)).toBe("10.77.255.1");
  expect(visitorAddress(emulatorNames(0), VISITOR_ADDRESSES - 1)).toBe("10.77.255.64");
  expect(visitorAddress(emulatorNames(2), 7)).toBe("10.81.255.8");
  for (const bad of [-1, VISITOR_ADDRESSES, 1.5])
    expect(() => visitorAddress(emulatorNames(0), bad)).toThrow(
      `visitor address ${bad}: there are 64, from 0`,
    );
});
