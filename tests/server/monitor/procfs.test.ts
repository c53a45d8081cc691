import { expect, test } from "bun:test";
import { cpuPercent, parseCpu, parseMemoryPercent } from "../../../server/monitor/procfs.ts";

test("CPU busy share comes from /proc/stat deltas, steal counted as busy, iowait as idle", () => {
  const before = parseCpu("cpu  100 0 100 700 50 0 0 50 0 0\ncpu0 1 2 3\n");
  const after = parseCpu("cpu  150 0 150 800 100 0 0 100 30 0\ncpu0 1 2 3\n");
  expect(before).toEqual({ busy: 250, total: 1000 });
  // busy +150 (user, system, steal), idle +150 (idle, iowait); guest (30) is already in user
  expect(cpuPercent(before, after)).toBe(50);
  expect(cpuPercent(after, after)).toBe(0);
  expect(() => parseCpu("intr 1 2 3")).toThrow("no aggregate cpu line");
});

test("memory in use is what MemAvailable says cannot be had", () => {
  const meminfo =
    "MemTotal:       1000000 kB\nMemFree:         100000 kB\nMemAvailable:    400000 kB\n";
  expect(parseMemoryPercent(meminfo)).toBe(60);
  expect(() => parseMemoryPercent("MemTotal: 1 kB\n")).toThrow("no MemAvailable");
});

test("this machine's own /proc reads as percentages", async () => {
  const memory = parseMemoryPercent(await Bun.file("/proc/meminfo").text());
  expect(memory).toBeGreaterThan(0);
  expect(memory).toBeLessThan(100);
  const first = parseCpu(await Bun.file("/proc/stat").text());
  await Bun.sleep(50);
  const cpu = cpuPercent(first, parseCpu(await Bun.file("/proc/stat").text()));
  expect(cpu).toBeGreaterThanOrEqual(0);
  expect(cpu).toBeLessThanOrEqual(100);
});
