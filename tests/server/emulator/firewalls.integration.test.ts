import { afterAll, expect, test } from "bun:test";
import { DigitalOcean, type Droplet } from "../../../server/shared/cloud/digitalocean.ts";
import { run } from "../../../server/shared/proc.ts";
import { createActive, startEmulator, userKey } from "../../helpers/emulator.ts";
import { reaches as reachesAddress, startOutsider } from "../../helpers/outsider.ts";
import { track } from "../../helpers/processes.ts";

// Cloud firewalls through the API, carried out by nftables inside each droplet: real packets
// from this machine (the control host, 10.78.0.1 in the VPC), from another droplet, and from an
// outsider (a namespace on the public network that is neither).
const emulator = await startEmulator();
const provider = new DigitalOcean({ token: emulator.token, apiUrl: emulator.apiUrl });
const key = await provider.ensureSshKey("dropship", userKey().publicKey);
const create = (name: string, tags: string[]) => createActive(provider, key.id, name, tags);
const web = await create("fw-web-1", ["shop-production"]);
const proxy = await create("fw-proxy-1", ["shop-proxy"]);
const ns = (droplet: Droplet) => `dsemu-${droplet.id}`;

// a server on the web droplet's port 3000, in its network namespace
const server = track(
  Bun.spawn(
    [
      "ip",
      "netns",
      "exec",
      ns(web),
      process.execPath,
      "-e",
      'Bun.serve({ port: 3000, hostname: "0.0.0.0", fetch: () => new Response("ok") })',
    ],
    { stdout: "ignore", stderr: "ignore" },
  ),
);

const OUTSIDER = startOutsider();
afterAll(() => server.kill());
/** The outsider knocks on the public address; the control host and droplets use the VPC's. */
const reaches = (from: string | undefined, droplet: Droplet, port: number) =>
  reachesAddress(from, (from === OUTSIDER.ns ? droplet.publicIp : droplet.ip) as string, port);

const api = (path: string, init: RequestInit = {}) =>
  fetch(`${emulator.apiUrl}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${emulator.token}`, "content-type": "application/json" },
  });
let firewallId = "";

test("a droplet has a public and a private address on separate networks", async () => {
  expect(web.publicIp).toMatch(/^10\.77\./);
  expect(web.ip).toMatch(/^10\.78\./);
  expect(web.ip?.split(".").slice(2)).toEqual(web.publicIp?.split(".").slice(2));
  const devices = run(["ip", "netns", "exec", ns(web), "ip", "-o", "-4", "addr", "show"]);
  expect(devices).toMatch(new RegExp(`eth0\\s+inet ${web.publicIp}/16`));
  expect(devices).toMatch(new RegExp(`eth1\\s+inet ${web.ip}/16`));
  // the VPC is not reachable from the internet at all
  await Bun.sleep(300); // the server on web starts
  expect(reachesAddress(OUTSIDER.ns, web.ip as string, 22)).toBe(false);
  expect(reachesAddress(OUTSIDER.ns, web.publicIp as string, 22)).toBe(true);
});

test("without a firewall every droplet takes everything", async () => {
  expect(reaches(undefined, web, 3000)).toBe(true);
  expect(reaches(OUTSIDER.ns, web, 3000)).toBe(true);
  expect(reaches(OUTSIDER.ns, web, 22)).toBe(true);
});

test("a firewall by tag: only the proxy reaches the app, only the control host SSH", async () => {
  const response = await api("/firewalls", {
    method: "POST",
    body: JSON.stringify({
      name: "shop",
      tags: ["shop-production"],
      inbound_rules: [
        { protocol: "tcp", ports: "3000", sources: { tags: ["shop-proxy"] } },
        { protocol: "tcp", ports: "22", sources: { addresses: ["10.78.0.1"] } },
      ],
      outbound_rules: [
        { protocol: "tcp", ports: "all", destinations: { addresses: ["0.0.0.0/0", "::/0"] } },
      ],
    }),
  });
  expect(response.status).toBe(202);
  const { firewall } = (await response.json()) as { firewall: Record<string, unknown> };
  firewallId = firewall.id as string;
  expect(firewall).toMatchObject({
    name: "shop",
    status: "succeeded",
    tags: ["shop-production"],
    droplet_ids: [],
    pending_changes: [],
    inbound_rules: [
      { protocol: "tcp", ports: "3000", sources: { tags: ["shop-proxy"] } },
      { protocol: "tcp", ports: "22", sources: { addresses: ["10.78.0.1"] } },
    ],
    outbound_rules: [{ protocol: "tcp", ports: "0" }],
  });
  expect(reaches(ns(proxy), web, 3000)).toBe(true);
  // a tag names both of a droplet's addresses
  expect(reachesAddress(ns(proxy), web.publicIp as string, 3000)).toBe(true);
  expect(reaches(undefined, web, 3000)).toBe(false);
  expect(reaches(OUTSIDER.ns, web, 3000)).toBe(false);
  expect(reaches(undefined, web, 22)).toBe(true);
  expect(reaches(OUTSIDER.ns, web, 22)).toBe(false);
  // the proxy droplet has no firewall: the outsider still reaches it
  expect(reaches(OUTSIDER.ns, proxy, 22)).toBe(true);
});

test("rules and droplets added and removed take effect at once", async () => {
  const rule = { protocol: "tcp", ports: "3000", sources: { addresses: [`${OUTSIDER.ip}/32`] } };
  expect(
    (
      await api(`/firewalls/${firewallId}/rules`, {
        method: "POST",
        body: JSON.stringify({ inbound_rules: [rule] }),
      })
    ).status,
  ).toBe(204);
  expect(reaches(OUTSIDER.ns, web, 3000)).toBe(true);
  expect(
    (
      await api(`/firewalls/${firewallId}/rules`, {
        method: "DELETE",
        body: JSON.stringify({ inbound_rules: [rule] }),
      })
    ).status,
  ).toBe(204);
  expect(reaches(OUTSIDER.ns, web, 3000)).toBe(false);
  expect(
    (
      await api(`/firewalls/${firewallId}/droplets`, {
        method: "POST",
        body: JSON.stringify({ droplet_ids: [proxy.id] }),
      })
    ).status,
  ).toBe(204);
  expect(reaches(OUTSIDER.ns, proxy, 22)).toBe(false);
  expect(reaches(undefined, proxy, 22)).toBe(true);
  const { firewall } = (await (await api(`/firewalls/${firewallId}`)).json()) as {
    firewall: { droplet_ids: number[] };
  };
  expect(firewall.droplet_ids).toEqual([proxy.id]);
});

test("what the API refuses, it refuses with its status and error body", async () => {
  const bad = await api("/firewalls", { method: "POST", body: JSON.stringify({ name: "x" }) });
  expect(bad.status).toBe(422);
  expect(await bad.json()).toMatchObject({
    id: "unprocessable_entity",
    message: "must have at least one inbound or outbound rule",
  });
  const missing = await api("/firewalls/no-such-firewall");
  expect(missing.status).toBe(404);
  expect(((await missing.json()) as { id: string }).id).toBe("not_found");
  const unknownDroplet = await api(`/firewalls/${firewallId}/droplets`, {
    method: "POST",
    body: JSON.stringify({ droplet_ids: [1] }),
  });
  expect(unknownDroplet.status).toBe(422);
  const listed = (await (await api("/firewalls")).json()) as {
    firewalls: unknown[];
    meta: { total: number };
  };
  expect(listed.meta.total).toBe(1);
});

test("deleting the firewall lets everything through again, and removes its table", async () => {
  expect((await api(`/firewalls/${firewallId}`, { method: "DELETE" })).status).toBe(204);
  expect(reaches(OUTSIDER.ns, web, 3000)).toBe(true);
  expect(reaches(OUTSIDER.ns, proxy, 22)).toBe(true);
  const table = run(["ip", "netns", "exec", ns(web), "nft", "list", "tables"]);
  expect(table).not.toContain("dropship_firewall");
});
