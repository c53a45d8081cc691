import { expect, test } from "bun:test";
import { Resolver } from "node:dns/promises";
import { startEmulator } from "../../helpers/emulator.ts";

// DigitalOcean DNS through the emulator's API, answered by a real DNS server (dnsmasq) on the
// public network's gateway, which droplets and a local CA use.
const emulator = await startEmulator();
/** The parts of the API's answers these tests read. */
interface Answer {
  domain: { name: string; ttl: number; zone_file: string };
  domain_record: { id: number; name: string; data: string };
  domain_records: unknown[];
  meta: { total: number };
  id: string;
  message: string;
}
const api = async (
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<{ status: number; body: Answer }> => {
  const response = await fetch(`${emulator.apiUrl}${path}`, {
    method: init.method ?? "GET",
    headers: { authorization: `Bearer ${emulator.token}`, "content-type": "application/json" },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return {
    status: response.status,
    body: (response.status === 204 ? {} : await response.json()) as Answer,
  };
};
const resolver = new Resolver({ timeout: 1000, tries: 1 });
resolver.setServers(["10.77.0.1:53"]);

test("the emulator says where its DNS server is", () => {
  expect(emulator.started).toContain("DNS for /v2/domains at 10.77.0.1:53");
});

test("a domain and its records, with the API's shapes, answered by the DNS server", async () => {
  const created = await api("/domains", {
    method: "POST",
    body: { name: "shop.test", ip_address: "10.77.0.40" },
  });
  expect(created.status).toBe(201);
  expect(created.body.domain).toMatchObject({ name: "shop.test", ttl: 1800 });
  expect(created.body.domain.zone_file).toContain("@ 1800 IN A 10.77.0.40");
  expect(await resolver.resolve4("shop.test")).toEqual(["10.77.0.40"]);

  const www = await api("/domains/shop.test/records", {
    method: "POST",
    body: { type: "A", name: "www", data: "10.77.0.41", ttl: 60 },
  });
  expect(www.status).toBe(201);
  expect(www.body.domain_record).toMatchObject({
    type: "A",
    name: "www",
    data: "10.77.0.41",
    ttl: 60,
    priority: null,
  });
  expect(await resolver.resolve4("www.shop.test")).toEqual(["10.77.0.41"]);

  const listed = await api("/domains/shop.test/records?type=A");
  expect(listed.body.meta.total).toBe(2);
  expect(
    (await api("/domains/shop.test/records?type=A&name=www.shop.test")).body.domain_records,
  ).toHaveLength(1);

  const moved = await api(`/domains/shop.test/records/${www.body.domain_record.id}`, {
    method: "PATCH",
    body: { data: "10.77.0.42" },
  });
  expect(moved.body.domain_record).toMatchObject({ name: "www", data: "10.77.0.42", ttl: 60 });
  expect(await resolver.resolve4("www.shop.test")).toEqual(["10.77.0.42"]);

  expect(
    (await api(`/domains/shop.test/records/${www.body.domain_record.id}`, { method: "DELETE" }))
      .status,
  ).toBe(204);
  await expect(resolver.resolve4("www.shop.test")).rejects.toMatchObject({ code: "ENOTFOUND" });
  // a name nobody registered is not forwarded anywhere: answered at once, not found
  await expect(resolver.resolve4("example.com")).rejects.toMatchObject({ code: "ENOTFOUND" });
});

test("what the API refuses, it refuses with its status and message", async () => {
  const again = await api("/domains", { method: "POST", body: { name: "shop.test" } });
  expect(again).toEqual({
    status: 422,
    body: expect.objectContaining({ id: "unprocessable_entity", message: "Name already exists" }),
  });
  const badName = await api("/domains", { method: "POST", body: { name: "not a domain" } });
  expect(badName.status).toBe(422);
  const badA = await api("/domains/shop.test/records", {
    method: "POST",
    body: { type: "A", name: "x", data: "nope" },
  });
  expect(badA.body.message).toBe("Data needs to be a valid IPv4 address");
  expect((await api("/domains/unknown.test/records")).status).toBe(404);
  expect((await api("/domains/shop.test/records/1")).status).toBe(404);
  expect((await api("/domains/shop.test", { method: "DELETE" })).status).toBe(204);
  await expect(resolver.resolve4("shop.test")).rejects.toMatchObject({ code: "ENOTFOUND" });
});
