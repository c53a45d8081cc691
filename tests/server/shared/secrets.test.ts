import { expect, test } from "bun:test";
import { describeSecret, maskUrl, redact } from "../../../server/shared/secrets.ts";

test("a URL shows without its password", () => {
  expect(maskUrl("redis://:s3cret-pw@10.0.0.2:6379/0")).toBe("redis://:****@10.0.0.2:6379/0");
  expect(maskUrl("smtp://alerts:pw123@mail:587")).toBe("smtp://alerts:****@mail:587");
  expect(maskUrl("redis://10.0.0.2:6379")).toBe("redis://10.0.0.2:6379");
});

test("a token is described, never shown", () => {
  expect(describeSecret("dop_v1_0123456789")).toBe("(set, 17 characters)");
  expect(describeSecret(undefined)).toBe("(not set)");
  expect(describeSecret("redis://:pw-long@h:1/0")).toBe("redis://:****@h:1/0");
});

test("redact removes secret values and URL passwords from any text", () => {
  const env = { DIGITALOCEAN_TOKEN: "dop_v1_abcdef", REDIS_URL: "redis://:p%40ssword@h:6379/0" };
  const text = "auth dop_v1_abcdef failed; redis p@ssword and redis://:p%40ssword@h:6379/0";
  const out = redact(text, env);
  expect(out).not.toContain("dop_v1_abcdef");
  expect(out).not.toContain("p@ssword");
  expect(out).not.toContain("p%40ssword");
  expect(out).toContain("<DIGITALOCEAN_TOKEN>");
});
