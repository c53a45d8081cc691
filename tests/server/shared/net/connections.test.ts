import { expect, test } from "bun:test";
import {
  ConnectionBudget,
  capWarning,
  connectionCap,
  openFileLimit,
  refusalFor,
} from "../../../../server/shared/net/connections.ts";

const BALANCER = "10.0.0.9";
const budget = (max: number, perAddress: number) =>
  new ConnectionBudget({ max, perAddress }, (address) => address === BALANCER);

test("an address is admitted up to its limit, and again once one of its connections closes", () => {
  const connections = budget(100, 2);
  expect(connections.admit("a")).toBe("admitted");
  expect(connections.admit("a")).toBe("admitted");
  expect(connections.admit("a")).toBe("address-full");
  expect(connections.admit("b")).toBe("admitted");
  expect([connections.open, connections.heldBy("a"), connections.heldBy("b")]).toEqual([3, 2, 1]);
  connections.release("a");
  expect(connections.admit("a")).toBe("admitted");
  connections.release("a");
  connections.release("a");
  connections.release("b");
  expect([connections.open, connections.heldBy("a"), connections.heldBy("b")]).toEqual([0, 0, 0]);
});

test("the total caps everyone together, the exempt balancer included; a refusal counts nothing", () => {
  const connections = budget(3, 2);
  expect(["a", BALANCER, BALANCER].map((address) => connections.admit(address))).toEqual([
    "admitted",
    "admitted",
    "admitted",
  ]);
  expect(connections.admit("b")).toBe("full");
  expect(connections.admit(BALANCER)).toBe("full");
  expect([connections.open, connections.heldBy("b"), connections.heldBy(BALANCER)]).toEqual([
    3, 0, 0,
  ]);
  connections.release(BALANCER);
  expect(connections.admit("b")).toBe("admitted");
});

test("an exempt address, or a per-address limit of 0, is held to the total only", () => {
  const exempt = budget(10, 1);
  for (let i = 0; i < 10; i++) expect(exempt.admit(BALANCER)).toBe("admitted");
  const unlimited = budget(5, 0);
  for (let i = 0; i < 5; i++) expect(unlimited.admit("a")).toBe("admitted");
  expect(unlimited.admit("a")).toBe("full");
});

test("a budget counts IPv6 addresses by their /64", () => {
  const connections = budget(100, 2);
  expect(connections.admit("2001:db8:1:2::1")).toBe("admitted");
  expect(connections.admit("2001:db8:1:2::2")).toBe("admitted");
  expect(connections.admit("2001:db8:1:2:ffff::3")).toBe("address-full");
  expect(connections.admit("2001:db8:1:3::1")).toBe("admitted");
  expect(connections.admit("::ffff:198.51.100.1")).toBe("admitted");
  expect(connections.heldBy("198.51.100.1")).toBe(1);
  connections.release("2001:db8:1:2::1");
  expect(connections.heldBy("2001:db8:1:2::9")).toBe(1);
});

test("a refusal says which limit, with the number and what to do", () => {
  const limits = { max: 4000, perAddress: 256 };
  expect(refusalFor("address-full", limits)).toEqual({
    status: 429,
    reason:
      "This address has 256 connections open to this proxy already, the most one address may hold; close some, or send more requests on each (keep-alive), then try again.",
  });
  expect(refusalFor("full", limits)).toEqual({
    status: 503,
    reason: "This proxy holds 4000 connections, the most it takes at once; try again in a moment.",
  });
});

test("auto keeps a fifth of the open-file limit for visitors; a number is taken as it is", () => {
  expect(connectionCap("auto", 524_288)).toBe(104_857);
  expect(connectionCap("auto", 20_000)).toBe(4000);
  expect(connectionCap("auto", 1024)).toBe(204);
  expect(connectionCap("auto", 40)).toBe(16);
  expect(connectionCap(500, 1024)).toBe(500);
});

test("the soft open-file limit is read from /proc/self/limits", () => {
  const limits = [
    "Limit                     Soft Limit           Hard Limit           Units     ",
    "Max processes             95704                95704                processes ",
    "Max open files            20000                524288               files     ",
    "Max locked memory         8388608              8388608              bytes     ",
  ].join("\n");
  expect(openFileLimit(limits)).toBe(20_000);
  expect(openFileLimit(limits.replace("20000 ", "unlimited"))).toBe(Number.MAX_SAFE_INTEGER);
  expect(openFileLimit("Max processes 1 1 processes")).toBeUndefined();
  expect(openFileLimit("Max open files            lots   1   files")).toBeUndefined();
});

test("a cap set by hand past what the files can carry is warned of at start", () => {
  expect(capWarning(4000, 20_000)).toBeUndefined();
  expect(capWarning(5000, 20_000)).toBeUndefined();
  expect(capWarning(6000, 20_000)).toBe(
    "proxy.max_connections is 6000, but this process may open 20000 files and a connection can take 4: past ~5000 connections the proxy stops answering anyone. Raise the limit (LimitNOFILE, ulimit -n) or lower proxy.max_connections.",
  );
});
