import { expect, test } from "bun:test";
import { loadPlan, parseEnvFile, pauseAfter, percentile } from "../../../scripts/lib/load.ts";

test("a load is bounded: 60 s and 32 connections by default, 10 minutes and 256 at most", () => {
  expect(loadPlan(undefined, undefined)).toEqual({ durationMs: 60_000, connections: 32 });
  expect(loadPlan("2m", "100")).toEqual({ durationMs: 120_000, connections: 100 });
  expect(loadPlan("11m", undefined)).toBe(
    "11m is longer than the 10m a load may last — run it again for more",
  );
  expect(loadPlan("soon", undefined)).toBe('"soon" is not a duration — write it like 30s or 2m');
  expect(loadPlan("30s", "1000")).toBe("--connections 1000 is not a whole number from 1 to 256");
  expect(loadPlan("30s", "0")).toBe("--connections 0 is not a whole number from 1 to 256");
});

test("a rate is a whole number of requests a second, and the connections share it", () => {
  const plan = loadPlan("30s", "4", "100");
  expect(plan).toEqual({ durationMs: 30_000, connections: 4, rate: 100 });
  if (typeof plan === "string") throw new Error(plan);
  // each of 4 connections sends every 40 ms: a request sent at 1000 and answered at 1010
  // waits 30 ms; one answered after its turn goes again at once
  expect(pauseAfter(plan, 1000, 1010)).toBe(30);
  expect(pauseAfter(plan, 1000, 1050)).toBe(0);
  const unpaced = loadPlan("30s", "4");
  if (typeof unpaced === "string") throw new Error(unpaced);
  expect(pauseAfter(unpaced, 1000, 1001)).toBe(0);
  for (const bad of ["0", "2.5", "fast", "100001"])
    expect(loadPlan("30s", "4", bad)).toBe(
      `--rate ${bad} is not a whole number of requests a second from 1 to 100000`,
    );
});

test("--visitors is a whole number of the emulator's visitors' addresses, one connection each at least", () => {
  expect(loadPlan("30s", "8", undefined, "8")).toEqual({
    durationMs: 30_000,
    connections: 8,
    visitors: 8,
  });
  expect(loadPlan("30s", "16", "200", "4")).toEqual({
    durationMs: 30_000,
    connections: 16,
    rate: 200,
    visitors: 4,
  });
  for (const bad of ["0", "1.5", "many", "65"])
    expect(loadPlan("30s", "100", undefined, bad)).toBe(
      `--visitors ${bad} is not a whole number of addresses from 1 to 64`,
    );
  expect(loadPlan("30s", "4", undefined, "8")).toBe(
    "--visitors 8 is more than the 4 connections that would come from them — give --connections 8 or more",
  );
});

test("demo.env is read as a shell reads it, quotes and all", () => {
  expect(
    parseEnvFile(
      "PROXY_URL=http://10.77.0.12\nREDIS_URL='redis-sentinel://a:b@x/0?s=1&t=2'\n\nBROKEN\n",
    ),
  ).toEqual({
    PROXY_URL: "http://10.77.0.12",
    REDIS_URL: "redis-sentinel://a:b@x/0?s=1&t=2",
  });
});

test("percentiles over sorted latencies", () => {
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
  expect(percentile(sorted, 50)).toBe(51);
  expect(percentile(sorted, 99)).toBe(100);
  expect(percentile([], 99)).toBe(0);
});
