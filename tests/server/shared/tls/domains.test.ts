import { expect, test } from "bun:test";
import { validateConfig } from "../../../../server/shared/config/validate.ts";
import { domainFault } from "../../../../server/shared/tls/domains.ts";

test("a domain must be a hostname; a wildcard or an address is refused with the fix", () => {
  expect(domainFault("shop.example.com")).toBeUndefined();
  expect(domainFault("Shop.Test")).toBeUndefined();
  expect(domainFault("*.example.com")).toBe(
    "*.example.com is a wildcard, which ACME issues only over DNS-01, and dropship uses HTTP-01 — list each name (shop.example.com, www.shop.example.com), or give certificate_file and key_file",
  );
  for (const bad of [
    "localhost",
    "https://shop.test",
    "shop.test:443",
    "shop.test/x",
    "-a.test",
    "a..test",
    `${"a".repeat(64)}.test`,
  ])
    expect(domainFault(bad)).toContain("is not a hostname — write it like shop.example.com");
  expect(domainFault("203.0.113.7")).toContain("is an IP address");
});

test("the config refuses what cannot work in proxy/tls, naming the setting", () => {
  const errors = (tls: unknown) => {
    const result = validateConfig({ proxy: { tls } });
    return result.ok ? [] : result.errors;
  };
  expect(errors({ domains: ["shop.test"], email: "ops@shop.test", hsts: "365d" })).toEqual([]);
  expect(errors({ domains: ["*.shop.test"] })[0]).toStartWith(
    "proxy/tls/domains/0: *.shop.test is a wildcard",
  );
  expect(errors({ domains: ["shop.test"], certificate_file: "c.pem" })).toEqual([
    "proxy/tls/key_file: certificate_file needs its key — set key_file to the PEM private key",
  ]);
  expect(errors({ certificate_file: "c.pem", key_file: "k.pem" })).toEqual([
    "proxy/tls/domains: list the names certificate_file serves — each is checked against the certificate",
  ]);
  expect(errors({ email: "ops@shop.test" })).toEqual([
    "proxy/tls/domains: email is set but no domain is — list the names to get certificates for",
  ]);
  expect(errors({ domains: ["shop.test"], hsts: "forever" })[0]).toContain("proxy/tls/hsts");
  expect(errors({ domains: ["shop.test"], acme_directory: "http://ca.test/dir" })[0]).toContain(
    "proxy/tls/acme_directory",
  );
  expect(errors({ domains: ["shop.test"], renew_before: "45d" })).toEqual([]);
});

test("the config refuses half a certificate in pipeline/tls, naming the setting", () => {
  const errors = (tls: unknown) => {
    const result = validateConfig({ pipeline: { tls } });
    return result.ok ? [] : result.errors;
  };
  expect(errors({ certificate_file: "c.pem", key_file: "k.pem" })).toEqual([]);
  expect(errors({})).toEqual([]);
  expect(errors({ certificate_file: "c.pem" })).toEqual([
    "pipeline/tls/key_file: certificate_file needs its key — set key_file to the PEM private key",
  ]);
  expect(errors({ key_file: "k.pem" })).toEqual([
    "pipeline/tls/certificate_file: key_file needs its certificate — set certificate_file to the PEM chain",
  ]);
});
