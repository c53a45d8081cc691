import { expect, test } from "bun:test";
import { sniffImage } from "../../../server/app/images.ts";
import { clientIdOf, DEFAULT_MESSAGE, parseSet } from "../../../server/app/requests.ts";
import { escapeHtml } from "../../../server/shared/html.ts";

test("/set without parameters stores the seed's message for ten seconds", () => {
  expect(parseSet({})).toEqual({ ok: true, value: DEFAULT_MESSAGE });
  expect(parseSet({ key: "greeting", value: "hi", ttl: "60" })).toEqual({
    ok: true,
    value: { key: "greeting", value: "hi", ttl: 60 },
  });
});

test("/set refuses a bad key, a long value or a bad ttl with a sentence", () => {
  const fault = (query: Record<string, string>) => {
    const result = parseSet(query);
    return result.ok ? "accepted" : result.error;
  };
  expect(fault({ key: "a b" })).toContain('key "a b" is not valid');
  expect(fault({ key: "" })).toContain("is not valid");
  expect(fault({ value: "x".repeat(1025) })).toBe("value is 1025 characters — at most 1024 fit");
  expect(fault({ ttl: "0" })).toContain('ttl "0" is not valid');
  expect(fault({ ttl: "1.5" })).toContain("is not valid");
  expect(fault({ ttl: "86401" })).toContain("is not valid");
});

test("the client id comes from the cookie, then the header, then the forwarded address", () => {
  const headers = (init: Record<string, string>) => new Headers(init);
  expect(clientIdOf(headers({ cookie: "a=1; dropship_client=abc; b=2" }), "1.1.1.1")).toBe("abc");
  expect(clientIdOf(headers({ "x-dropship-client": "h1" }), "1.1.1.1")).toBe("h1");
  expect(clientIdOf(headers({ "x-forwarded-for": "9.9.9.9, 10.0.0.1" }), "1.1.1.1")).toBe(
    "9.9.9.9",
  );
  expect(clientIdOf(headers({}), "1.1.1.1")).toBe("1.1.1.1");
});

test("images are recognised by their bytes", () => {
  const bytes = (...b: number[]) => new Uint8Array(b);
  expect(sniffImage(bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0))).toBe("image/png");
  expect(sniffImage(bytes(0xff, 0xd8, 0xff, 0xe0))).toBe("image/jpeg");
  expect(sniffImage(new TextEncoder().encode("GIF89a"))).toBe("image/gif");
  expect(sniffImage(new TextEncoder().encode("RIFF\0\0\0\0WEBPVP8 "))).toBe("image/webp");
  expect(sniffImage(new TextEncoder().encode("RIFF\0\0\0\0WAVEfmt "))).toBeUndefined();
  expect(sniffImage(new TextEncoder().encode("<svg onload=alert(1)>"))).toBeUndefined();
  expect(sniffImage(bytes())).toBeUndefined();
});

test("html escaping covers the five special characters", () => {
  expect(escapeHtml(`<a href="x" onclick='y'>&`)).toBe(
    "&#60;a href=&#34;x&#34; onclick=&#39;y&#39;&#62;&#38;",
  );
});
