import { expect, test } from "bun:test";
import {
  announcesBody,
  crossOriginRefusal,
  hostName,
  refusalOf,
  SiteNames,
} from "../../../server/proxy/classify.ts";

const ok = (host: string | null, url = `http://${host}/`, method = "GET") =>
  refusalOf(method, url, host, false);

test("a usable Host passes: names, addresses, ports, IPv6", () => {
  for (const host of [
    "shop.example",
    "shop.example:8080",
    "10.0.0.5",
    "[::1]:80",
    "localhost",
    "a_b.example.",
  ]) {
    expect(ok(host)).toBeUndefined();
  }
});

test("a missing, empty, repeated or malformed Host is a 400 that says what to send", () => {
  expect(ok(null, "/recent")?.reason).toBe(
    "The request has no Host field; send Host: <the site's name>.",
  );
  expect(ok("", "/recent")?.status).toBe(400);
  expect(ok("a, b")?.reason).toBe("The request has more than one Host field; send exactly one.");
  for (const host of [
    "a@b",
    "x?",
    "x/y",
    "a b",
    "-a.example",
    "a..b",
    "[zz]",
    "a:99999999",
    "é.example",
  ]) {
    const refusal = ok(host, "/recent");
    expect(refusal?.status).toBe(400);
    expect(refusal?.reason).toContain("Host");
  }
  expect(ok("x".repeat(300))?.status).toBe(400);
});

test("a relative target (Bun's url when the Host was unusable) never passes", () => {
  expect(refusalOf("GET", "/recent", "shop.example", false)?.status).toBe(400);
});

test("with names to serve, any other Host is a 421 naming them; theirs pass in any case, port or final dot", () => {
  const sites = new SiteNames(["shop.example", "WWW.shop.example"]);
  const asked = (host: string) => refusalOf("GET", `http://${host}/`, host, false, sites);
  for (const host of [
    "shop.example",
    "SHOP.example:8443",
    "www.shop.example.",
    "Www.Shop.Example.:80",
  ]) {
    expect(asked(host)).toBeUndefined();
  }
  for (const host of [
    "evil.example",
    "10.0.0.5",
    "[::1]:443",
    "shop.example.evil",
    "xshop.example",
  ]) {
    expect(asked(host)).toEqual({
      status: 421,
      reason:
        "The Host field names a site this proxy does not serve; it serves shop.example, www.shop.example.",
    });
  }
  // a malformed Host is still the 400 that says so, and a proxy without names serves any
  expect(asked("a b")?.status).toBe(400);
  expect(ok("evil.example")).toBeUndefined();
  expect(new SiteNames(["a.example", "b.example", "c.example", "d.example"]).describe()).toBe(
    "a.example, b.example, c.example, …",
  );
});

test("a Host's name: lower case, without its port or final dot", () => {
  expect(hostName("Shop.Example.:8443")).toBe("shop.example");
  expect(hostName("shop.example:")).toBe("shop.example");
  expect(hostName("[::1]:443")).toBe("[::1]");
  expect(hostName("[::1]")).toBe("[::1]");
});

test("a stranger's many spellings of a served name are not all remembered", () => {
  const sites = new SiteNames(["shop.example"]);
  for (let port = 1; port <= 1000; port++) expect(sites.serves(`shop.example:${port}`)).toBe(true);
  expect((sites as unknown as { good: Set<string> }).good.size).toBe(64);
  expect(sites.serves("evil.example")).toBe(false);
});

test("CONNECT and TRACE are 405 with the methods that are allowed", () => {
  for (const method of ["CONNECT", "TRACE"]) {
    const refusal = refusalOf(method, "shop.example:443", "shop.example:443", false);
    expect(refusal?.status).toBe(405);
    expect(refusal?.headers?.allow).toContain("GET");
  }
});

test("a GET or HEAD that announces a body is refused rather than silently cut", () => {
  expect(announcesBody("GET", new Headers({ "content-length": "5" }))).toBe(true);
  expect(announcesBody("HEAD", new Headers({ "transfer-encoding": "chunked" }))).toBe(true);
  expect(announcesBody("GET", new Headers({ "content-length": "0" }))).toBe(false);
  expect(announcesBody("POST", new Headers({ "content-length": "5" }))).toBe(false);
  expect(refusalOf("GET", "http://a/", "a", true)?.reason).toBe(
    "A body on GET cannot be forwarded by this proxy; send it with POST or PUT.",
  );
});

test("cross-origin protection follows Go's CrossOriginProtection", () => {
  const headers = (fields: Record<string, string>) =>
    new Headers({ host: "admin.example:9090", ...fields });
  expect(crossOriginRefusal(headers({ "sec-fetch-site": "same-origin" }))).toBeUndefined();
  expect(crossOriginRefusal(headers({ "sec-fetch-site": "None" }))).toBeUndefined();
  expect(crossOriginRefusal(headers({}))).toBeUndefined();
  expect(crossOriginRefusal(headers({ origin: "http://admin.example:9090" }))).toBeUndefined();
  expect(crossOriginRefusal(headers({ origin: "http://ADMIN.example:9090" }))).toBeUndefined();
  const refused: Record<string, string>[] = [
    { "sec-fetch-site": "cross-site" },
    { "sec-fetch-site": "same-site" },
    { "sec-fetch-site": "same-origin, same-origin" },
    { "sec-fetch-site": "same-site", origin: "http://admin.example:9090" },
    { origin: "http://admin.example" },
    { origin: "https://evil.example" },
    { origin: "null" },
    { origin: "http://admin.example:9090, http://admin.example:9090" },
  ];
  for (const fields of refused) {
    expect(crossOriginRefusal(headers(fields))).toBeString();
  }
});
