import { expect, test } from "bun:test";
import {
  checkFirewallBody,
  type DropletView,
  type Firewall,
  portRange,
  rulesetFor,
  TABLE,
} from "../../../server/emulator/firewalls.ts";

const DROPLETS: DropletView[] = [
  { id: 1, ip: "10.77.0.10", tags: ["shop-proxy"] },
  { id: 2, ip: "10.77.0.11", tags: ["shop-production"] },
  { id: 3, ip: "10.77.0.12", tags: ["shop-production"] },
  { id: 4, ip: "10.77.0.13", tags: [] },
];
const byId = new Map(DROPLETS.map((d) => [d.id, d]));

const firewall = (body: unknown): Firewall => {
  const checked = checkFirewallBody(body, byId);
  if (!checked.ok) throw new Error(checked.message);
  return {
    id: "f",
    status: "succeeded",
    created_at: "",
    pending_changes: [],
    ...checked.value,
  };
};

const APP = firewall({
  name: "shop",
  tags: ["shop-production"],
  inbound_rules: [
    { protocol: "tcp", ports: "3000", sources: { tags: ["shop-proxy"] } },
    { protocol: "tcp", ports: "22", sources: { addresses: ["10.77.0.1/32"] } },
    { protocol: "icmp", sources: { addresses: ["0.0.0.0/0", "::/0"] } },
  ],
  outbound_rules: [
    { protocol: "tcp", ports: "all", destinations: { addresses: ["0.0.0.0/0", "::/0"] } },
  ],
});

test("a droplet a firewall names by tag drops what no rule allows; answers always pass", () => {
  const script = rulesetFor(DROPLETS[1] as DropletView, [APP], DROPLETS);
  expect(script).toContain(`table inet ${TABLE} {`);
  expect(script).toContain("type filter hook input priority 0; policy drop;");
  expect(script).toContain("ct state established,related accept");
  expect(script).toContain("ip saddr { 10.77.0.10 } tcp dport 3000 accept");
  expect(script).toContain("ip saddr { 10.77.0.1/32 } tcp dport 22 accept");
  expect(script).toContain("    ip protocol icmp accept");
  expect(script).toContain("    meta l4proto tcp accept"); // outbound anywhere, every port
  // replaced in one transaction: declared, deleted, made again
  expect(script.startsWith(`table inet ${TABLE}\ndelete table inet ${TABLE}\n`)).toBe(true);
});

test("a droplet no firewall applies to takes everything: its table is removed", () => {
  expect(rulesetFor(DROPLETS[3] as DropletView, [APP], DROPLETS)).toBe(
    `table inet ${TABLE}\ndelete table inet ${TABLE}\n`,
  );
});

test("sources by droplet id and by tag follow the droplets there are", () => {
  const byDroplet = firewall({
    name: "one",
    droplet_ids: [4],
    inbound_rules: [{ protocol: "tcp", ports: "6379", sources: { droplet_ids: [2, 3] } }],
  });
  expect(rulesetFor(DROPLETS[3] as DropletView, [byDroplet], DROPLETS)).toContain(
    "ip saddr { 10.77.0.11, 10.77.0.12 } tcp dport 6379 accept",
  );
  // with both sources gone, the rule allows nothing, and the droplet still drops the rest
  const gone = DROPLETS.filter((d) => d.id !== 2 && d.id !== 3);
  const script = rulesetFor(DROPLETS[3] as DropletView, [byDroplet], gone);
  expect(script).not.toContain("6379");
  expect(script).toContain("policy drop");
});

test("bodies the API refuses say why", () => {
  const refused = (body: unknown) => {
    const checked = checkFirewallBody(body, byId);
    return checked.ok ? "accepted" : checked.message;
  };
  expect(refused({ name: "-x", inbound_rules: [] })).toContain("name must begin");
  expect(refused({ name: "x" })).toBe("must have at least one inbound or outbound rule");
  expect(
    refused({ name: "x", inbound_rules: [{ protocol: "sctp", ports: "1", sources: {} }] }),
  ).toBe("inbound_rules[0]: protocol must be tcp, udp or icmp");
  expect(
    refused({ name: "x", inbound_rules: [{ protocol: "tcp", ports: "70000", sources: {} }] }),
  ).toContain("inbound_rules[0]: ports must be");
  expect(
    refused({
      name: "x",
      inbound_rules: [{ protocol: "tcp", ports: "22", sources: { addresses: ["10.0.0.300"] } }],
    }),
  ).toBe("inbound_rules[0]: 10.0.0.300 is not a valid address or CIDR");
  expect(
    refused({
      name: "x",
      droplet_ids: [99],
      inbound_rules: [{ protocol: "tcp", ports: "22", sources: {} }],
    }),
  ).toBe("droplet 99 not found");
});

test("ports read as the API writes them", () => {
  expect(["80", "8000-9000", "all", "0", "9000-8000", "0-5", "x"].map(portRange)).toEqual([
    "80",
    "8000-9000",
    "all",
    "all",
    undefined,
    undefined,
    undefined,
  ]);
  expect(APP.inbound_rules.map((r) => r.ports)).toEqual(["3000", "22", "0"]);
  expect(APP.outbound_rules[0]?.ports).toBe("0");
});
