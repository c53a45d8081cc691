import { expect, test } from "bun:test";
import { parseHostInit } from "../../../server/emulator/host-init.ts";

const installed = (program: string) => `/usr/bin/${program}`;
const missing = () => null;

test("a droplet boots a shell or systemd; anything else names the two", () => {
  expect(parseHostInit("shell", missing)).toBe("shell");
  expect(parseHostInit("systemd", installed)).toBe("systemd");
  expect(() => parseHostInit("sysvinit", installed)).toThrow(
    '"sysvinit" is not what a droplet can boot: use systemd or shell, or leave it unset for systemd',
  );
  expect(() => parseHostInit("Systemd", installed)).toThrow("is not what a droplet can boot");
});

test("systemd without systemd-nspawn says which package brings it", () => {
  expect(() => parseHostInit("systemd", missing)).toThrow(
    "systemd needs systemd-nspawn, which is not installed: apt-get install systemd-container, or DROPSHIP_EMULATOR_INIT=shell",
  );
});
