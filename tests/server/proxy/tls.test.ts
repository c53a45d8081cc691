import { expect, test } from "bun:test";
import { hstsValue, httpsLocation } from "../../../server/proxy/tls.ts";

test("plain HTTP goes to the same host and path on https, with the port when not 443", () => {
  expect(httpsLocation("http://shop.test/a?b=1", "shop.test", 443)).toBe("https://shop.test/a?b=1");
  expect(httpsLocation("http://shop.test:8080/a", "shop.test:8080", 8443)).toBe(
    "https://shop.test:8443/a",
  );
  expect(httpsLocation("http://[::1]/", "[::1]:80", 443)).toBe("https://[::1]/");
  // a Host that cannot be a redirect's is not turned into one
  for (const host of [null, "", "a b", "evil.test/x", "user@evil.test", "shop.test:80:80"])
    expect(httpsLocation("/x", host, 443)).toBeUndefined();
});

test("HSTS: a max-age in seconds, or nothing when off", () => {
  expect(hstsValue("365d")).toBe("max-age=31536000");
  expect(hstsValue("1h")).toBe("max-age=3600");
  expect(hstsValue("off")).toBeUndefined();
});
