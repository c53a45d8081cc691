import { expect, test } from "bun:test";
import { statfsSync } from "node:fs";
import {
  cpuPercent,
  diskPercent,
  parseCpu,
  parseMemoryPercent,
} from "../../../server/monitor/procfs.ts";

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

test("disk in use is df's Use%: the blocks reserved for root count as neither used nor free", () => {
  // 1000 blocks, 300 free of which 50 only for root: 700 used of the 950 a user can have
  expect(diskPercent({ blocks: 1000, bfree: 300, bavail: 250 })).toBeCloseTo(73.684, 3);
  expect(diskPercent({ blocks: 1000, bfree: 50, bavail: 0 })).toBe(100);
  expect(diskPercent({ blocks: 0, bfree: 0, bavail: 0 })).toBe(0);
});

test("this machine's root filesystem reads as df reads it", () => {
  const df = Bun.spawnSync(["df", "--output=pcent", "/"]).stdout.toString();
  const shown = Number(/(\d+)%/.exec(df)?.[1]);
  // df rounds up; a write between the two reads moves it by a hair at most
  expect(Math.abs(Math.ceil(diskPercent(statfsSync("/"))) - shown)).toBeLessThanOrEqual(1);
});
