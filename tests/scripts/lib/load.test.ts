import { expect, test } from "bun:test";
import { loadPlan, parseEnvFile, percentile } from "../../../scripts/lib/load.ts";

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
