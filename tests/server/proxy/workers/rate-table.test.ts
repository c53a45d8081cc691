import { afterEach, expect, test } from "bun:test";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rateTableBytes } from "../../../../server/proxy/request-rate.ts";
import {
  createRateTable,
  rateTableDirectory,
  rateTablePrefix,
} from "../../../../server/proxy/workers/rate-table.ts";
import { tempDir } from "../../../helpers/tmp.ts";

const tables: { remove(): void }[] = [];
afterEach(() => {
  for (const table of tables.splice(0)) table.remove();
});

test("the table goes to shared memory where this user may write there, else the temporary directory", () => {
  // the gate's sandbox has a /dev without a /dev/shm of the build user's
  expect(["/dev/shm", tmpdir()]).toContain(rateTableDirectory());
});

test("the supervisor's table: a new file only its user may open, sized for the addresses, removed at the end", () => {
  const directory = tempDir();
  const table = createRateTable(1000, directory);
  tables.push(table);
  // named by the PID namespace (the emulator's droplets share this machine's /dev/shm), the
  // PID and random bytes: no one else on the host could have made it first
  expect(rateTablePrefix()).toMatch(/^dropship-proxy-rate-\d+-$/);
  expect(table.path).toMatch(
    new RegExp(`^${directory}/${rateTablePrefix()}${process.pid}-[0-9a-f]{16}$`),
  );
  const stat = statSync(table.path);
  expect(stat.mode & 0o777).toBe(0o600);
  expect(stat.size).toBe(rateTableBytes(1000));
  expect(table.memory.byteLength).toBe(rateTableBytes(1000));
  const other = createRateTable(1000, directory);
  tables.push(other);
  expect(other.path).not.toBe(table.path);
  table.remove();
  expect(existsSync(table.path)).toBe(false);
});

test("a killed supervisor's table is removed at the next start; a running one's is left, and another PID namespace's", () => {
  const directory = tempDir();
  const dead = Bun.spawnSync(["true"]).pid;
  const stale = join(directory, `${rateTablePrefix()}${dead}-00000000`);
  const running = join(directory, `${rateTablePrefix()}${process.ppid}-00000000`);
  const elsewhere = join(directory, `dropship-proxy-rate-1-${dead}-00000000`);
  for (const path of [stale, running, elsewhere]) writeFileSync(path, "x");
  tables.push(createRateTable(10, directory));
  expect(existsSync(stale)).toBe(false);
  expect(existsSync(running)).toBe(true);
  expect(existsSync(elsewhere)).toBe(true);
});

test("where no file can be made, the fault names where", () => {
  const missing = join(tempDir(), "gone");
  expect(() => createRateTable(10, missing)).toThrow(missing);
});
