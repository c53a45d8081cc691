import { expect, test } from "bun:test";
import { maskUrl } from "../../../../server/shared/secrets.ts";
import { parseReply } from "../../../../server/shared/state/sentinel.ts";
import {
  isSentinelUrl,
  parseSentinelUrl,
  sentinelUrl,
} from "../../../../server/shared/state/sentinel-url.ts";

const target = {
  username: "proxy",
  password: "p@ss/w:rd",
  name: "dropship",
  db: 0,
  sentinels: [
    { host: "10.78.0.14", port: 26379 },
    { host: "10.78.0.12", port: 26380 },
  ],
  sentinelPassword: "sentinel-secret-123",
};

test("a redis-sentinel:// URL names the user, the primary's name and the Sentinels, and reads back", () => {
  const url = sentinelUrl(target);
  expect(isSentinelUrl(url)).toBe(true);
  expect(isSentinelUrl("redis://a:b@h:6379/0")).toBe(false);
  expect(parseSentinelUrl(url)).toEqual(target);
});

test("both passwords are masked wherever a URL is shown", () => {
  const shown = maskUrl(sentinelUrl(target));
  expect(shown).not.toContain("p%40ss");
  expect(shown).not.toContain("sentinel-secret-123");
  expect(shown).toContain("sentinels=10.78.0.14");
});

test("a broken URL says what is wrong with it", () => {
  expect(() => parseSentinelUrl("redis-sentinel://u:p@dropship/0")).toThrow(
    "redis-sentinel:// URL: no sentinels= list of host:port to ask",
  );
  expect(() =>
    parseSentinelUrl("redis-sentinel://u:p@dropship/0?sentinels=10.0.0.1:99999"),
  ).toThrow("redis-sentinel:// URL: 10.0.0.1:99999 is not host:port");
  expect(() => parseSentinelUrl("redis://u:p@h/0")).toThrow("not a redis-sentinel:// URL");
});

test("RESP replies parse whole, or wait for the rest", () => {
  expect(parseReply("*2\r\n$10\r\n10.78.0.14\r\n$4\r\n6379\r\n")?.reply).toEqual([
    "10.78.0.14",
    "6379",
  ]);
  expect(parseReply("*2\r\n$10\r\n10.78.0.14\r\n")).toBeUndefined();
  expect(parseReply("-NOAUTH Authentication required.\r\n")?.reply).toEqual({
    error: "NOAUTH Authentication required.",
  });
  expect(parseReply("*-1\r\n")?.reply).toBeNull();
  expect(parseReply(":3\r\n")?.reply).toBe(3);
});
