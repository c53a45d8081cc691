import { expect, test } from "bun:test";
import { meanCpu } from "../../../server/receiver/metric.ts";
import type { HostReport } from "../../../server/shared/state/hosts.ts";

const now = Date.parse("2026-12-07T07:00:00Z");
const report = (host: string, role: HostReport["role"], cpu: number, ago = 1_000): HostReport => ({
  host,
  role,
  cpu,
  memory: 20,
  at: now - ago,
  release: "rel-1",
});

test("proxy CPU is the mean over the proxies that reported lately, not whichever Redis lists first", () => {
  const reports = [
    report("shop-proxy-1", "proxy", 20),
    report("shop-production-1", "production", 90),
    report("shop-proxy-2", "proxy", 70),
    report("shop-proxy-3", "proxy", 99, 120_000), // silent for two minutes: replaced, or dying
  ];
  expect(meanCpu(reports, "proxy", 30_000, now)).toBe(45);
  expect(meanCpu(reports.slice().reverse(), "proxy", 30_000, now)).toBe(45);
  expect(meanCpu(reports, "production", 30_000, now)).toBe(90);
  expect(
    meanCpu([report("shop-proxy-3", "proxy", 99, 120_000)], "proxy", 30_000, now),
  ).toBeUndefined();
  expect(meanCpu([], "production", 30_000, now)).toBeUndefined();
});
