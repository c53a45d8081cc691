import { expect, test } from "bun:test";
import {
  currentSentinels,
  SENTINEL_PORT,
  sentinelHosts,
} from "../../../../server/shared/state/sentinel-fleet.ts";
import { sentinelUrl } from "../../../../server/shared/state/sentinel-url.ts";

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
