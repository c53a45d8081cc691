import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import {
  currentSentinels,
  repointSentinelsIn,
  SENTINEL_PORT,
  SENTINEL_TIMINGS,
  sentinelHosts,
  sentinelsParam,
  withCurrentSentinels,
} from "../../../../server/shared/state/sentinel-fleet.ts";
import { parseSentinelUrl, sentinelUrl } from "../../../../server/shared/state/sentinel-url.ts";

const url = sentinelUrl({
  username: "control",
  password: "master-password-0123",
  name: "dropship",
  db: 0,
  // the fleet at setup: every one of these may be gone after a few replacements
  sentinels: ["10.78.0.2", "10.78.0.3", "10.78.0.4"].map((host) => ({ host, port: SENTINEL_PORT })),
  sentinelPassword: "sentinel-password-0123",
});

test("Sentinels run on the Redis hosts and then the proxies, nowhere else", () => {
  const hosts = [
    { role: "proxy" as const, address: "10.78.0.9" },
    { role: "production" as const, address: "10.78.0.5" },
    { role: "redis" as const, address: "10.78.0.7" },
  ];
  expect(sentinelHosts(hosts).map((h) => h.address)).toEqual(["10.78.0.7", "10.78.0.9"]);
});

test("the Sentinels asked are the inventory's now, not those the URL was made with", () => {
  const now = currentSentinels(url, [
    { role: "redis", address: "10.78.0.12" },
    { role: "redis", address: "10.78.0.13" },
    { role: "proxy", address: "10.78.0.14" },
    { role: "production", address: "10.78.0.15" },
  ]);
  expect(now.sentinels).toEqual([
    { host: "10.78.0.12", port: SENTINEL_PORT },
    { host: "10.78.0.13", port: SENTINEL_PORT },
    { host: "10.78.0.14", port: SENTINEL_PORT },
  ]);
  // everything else is the URL's
  expect(now).toMatchObject({ username: "control", name: "dropship", db: 0 });
  // an inventory without any (not read yet): the URL's, rather than none
  expect(currentSentinels(url, []).sentinels.map((s) => s.host)).toEqual([
    "10.78.0.2",
    "10.78.0.3",
    "10.78.0.4",
  ]);
});

const fleet = [
  { role: "redis" as const, address: "10.78.0.12" },
  { role: "proxy" as const, address: "10.78.0.14" },
  { role: "production" as const, address: "10.78.0.15" },
];

test("a URL is made to name the Sentinels there are now; any other URL stays as it is", () => {
  const now = parseSentinelUrl(withCurrentSentinels(url, fleet));
  expect(now.sentinels.map((s) => s.host)).toEqual(["10.78.0.12", "10.78.0.14"]);
  expect(now).toMatchObject({
    username: "control",
    password: "master-password-0123",
    sentinelPassword: "sentinel-password-0123",
  });
  const plain = "redis://control:pw@10.78.0.12:6379/0";
  expect(withCurrentSentinels(plain, fleet)).toBe(plain);
});

test("a settings file's Sentinel URLs get the new list; nothing else in it changes", () => {
  const param = sentinelsParam(fleet);
  expect(param).toBe("10.78.0.12%3A26379%2C10.78.0.14%3A26379");
  const proxyUrl = url.replace("control:", "proxy:");
  const text = [
    "# Written by bun run setup",
    `REDIS_URL=${url}`,
    `PROXY_REDIS='${proxyUrl}'`,
    "PROXY_URL=http://10.78.0.14",
    "OTHER=redis://control:pw@10.78.0.12:6379/0?sentinels=keep",
    "",
  ].join("\n");
  const now = repointSentinelsIn(text, param);
  const lines = now.split("\n");
  expect(parseSentinelUrl((lines[1] as string).slice("REDIS_URL=".length))).toEqual(
    parseSentinelUrl(withCurrentSentinels(url, fleet)),
  );
  expect(lines[2]).toBe(`PROXY_REDIS='${withCurrentSentinels(proxyUrl, fleet)}'`);
  expect([lines[0], lines[3], lines[4], lines[5]]).toEqual([
    "# Written by bun run setup",
    "PROXY_URL=http://10.78.0.14",
    "OTHER=redis://control:pw@10.78.0.12:6379/0?sentinels=keep",
    "",
  ]);
  // a fleet without Sentinel hosts has nothing to name
  expect(() => sentinelsParam([{ role: "production", address: "10.78.0.15" }])).toThrow(
    "no Sentinel hosts",
  );
});

test("the timings setup gives the Sentinels are those the playbook writes for a new one", () => {
  const template = readFileSync(
    resolve(
      import.meta.dir,
      "../../../../ansible/roles/dropship_sentinel/templates/sentinel.conf.j2",
    ),
    "utf8",
  );
  const written = Object.fromEntries(
    [...template.matchAll(/^sentinel (\S+) \{\{ dropship_sentinel_name \}\} (\d+)$/gm)].map((m) => [
      m[1],
      m[2],
    ]),
  );
  expect(written).toEqual({ ...SENTINEL_TIMINGS });
});
