import { expect, test } from "bun:test";
import {
  cutNotes,
  mergeLogs,
  proxyHosts,
  selectHosts,
  stampOf,
} from "../../../server/shared/logs.ts";

test("lines are merged by their time and prefixed by host and service", () => {
  const merged = mergeLogs([
    {
      host: "web-1",
      service: "app",
      text: "2026-11-30T10:00:01.000Z started\n2026-11-30T10:00:03.000Z GET /\n",
    },
    { host: "proxy-1", service: "proxy", text: "2026-11-30T10:00:02.000Z listening\n" },
  ]);
  expect(merged).toEqual([
    "web-1 app     | 2026-11-30T10:00:01.000Z started",
    "proxy-1 proxy | 2026-11-30T10:00:02.000Z listening",
    "web-1 app     | 2026-11-30T10:00:03.000Z GET /",
  ]);
});

test("a line without a time of its own stays with the line before it, and --since drops what is older", () => {
  const text = [
    "a line from before timestamps",
    "2026-11-30T10:00:00.000Z old",
    "2026-11-30T10:05:00.000Z Error: boom",
    "    at main (main.ts:1)",
  ].join("\n");
  const source = { host: "web-1", service: "app", text };
  expect(mergeLogs([source], Date.parse("2026-11-30T10:01:00Z"))).toEqual([
    "web-1 app | 2026-11-30T10:05:00.000Z Error: boom",
    "web-1 app |     at main (main.ts:1)",
  ]);
  expect(mergeLogs([source])).toHaveLength(4);
  expect(stampOf("2026-11-30T10:05:00Z x")).toBe(Date.parse("2026-11-30T10:05:00Z"));
  expect(stampOf("GET / 200")).toBeUndefined();
});

const hosts = [
  { name: "proxy-1", role: "proxy" as const },
  { name: "web-1", role: "production" as const },
  { name: "web-2", role: "production" as const },
];

test("a ROLE names its hosts, a HOST itself, nothing all; anything else says what exists", () => {
  expect(selectHosts(hosts, "production").map((h) => h.name)).toEqual(["web-1", "web-2"]);
  expect(selectHosts(hosts, "web-2").map((h) => h.name)).toEqual(["web-2"]);
  expect(selectHosts(hosts, undefined)).toHaveLength(3);
  expect(() => selectHosts(hosts, "staging")).toThrow("the fleet has no staging hosts");
  expect(() => selectHosts(hosts, "web-9")).toThrow(
    '"web-9" is neither a role (proxy, redis, production, staging) nor a host of the fleet (proxy-1, web-1, web-2)',
  );
});

test("the access log is read on the proxy hosts: of a selection, only those; none, a sentence saying where it is", () => {
  const fleet = [
    { name: "shop-proxy-1", role: "proxy" as const },
    { name: "shop-web-1", role: "production" as const },
    { name: "shop-proxy-2", role: "proxy" as const },
  ];
  expect(proxyHosts(fleet, undefined).map((h) => h.name)).toEqual(["shop-proxy-1", "shop-proxy-2"]);
  expect(() => proxyHosts([fleet[1] as (typeof fleet)[number]], "shop-web-1")).toThrow(
    'the access log is kept on the proxy hosts, and "shop-web-1" is not one: name a proxy host, the proxy role, or nothing',
  );
  expect(() => proxyHosts([], undefined)).toThrow("and the fleet has none");
});

test("a stretch read up to --lines is said to be cut; one with fewer lines, or no stretch, is not", () => {
  const full = { host: "shop-proxy-1", service: "access", text: "a\nb\nc\n" };
  const short = { host: "shop-proxy-2", service: "access", text: "a\nb\n" };
  expect(cutNotes([full, short], 3, 0)).toEqual([
    "shop-proxy-1 access: only the last 3 lines were read, and the stretch may hold more — raise --lines",
  ]);
  expect(cutNotes([full], 3, undefined)).toEqual([]);
  expect(cutNotes([full], 4, 0)).toEqual([]);
});
