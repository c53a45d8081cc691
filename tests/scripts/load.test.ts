import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const LOAD = resolve(import.meta.dir, "../../scripts/load.ts");

/** The loader run against a demo.env in `dir`, on emulator network 9 (no test's, no demo's). */
function load(dir: string, ...args: string[]) {
  const run = Bun.spawnSync([process.execPath, LOAD, ...args], {
    env: {
      PATH: process.env.PATH ?? "",
      DROPSHIP_DEMO_DIR: dir,
      DROPSHIP_EMULATOR_NETWORK: "9",
    },
  });
  return { code: run.exitCode, err: run.stderr.toString(), out: run.stdout.toString() };
}

test("the loader refuses, saying the fix, when there is no demo or no visitors' addresses, and sends nothing", () => {
  const dir = mkdtempSync(join(tmpdir(), "dropship-load-"));
  try {
    expect(load(dir, "5s")).toEqual({
      code: 1,
      err: `dropship load: no demo is running (${dir}/demo.env is not there); start one with bun run demo\n`,
      out: "",
    });
    writeFileSync(join(dir, "ca.pem"), "not used: nothing is sent\n");
    writeFileSync(
      join(dir, "demo.env"),
      `PROXY_URL=http://10.95.0.12\nDROPSHIP_DOMAIN=shop.test\nDROPSHIP_CA_FILE=${dir}/ca.pem\n`,
    );
    // network 9's emulator never ran here: its public bridge has no visitors' addresses
    expect(load(dir, "5s", "--connections", "2", "--visitors", "2")).toEqual({
      code: 1,
      err: "dropship load: this machine lacks the visitors' address 10.95.255.1 on the emulator's network; the emulator adds them when it starts — bring the demo down and up again (bun run demo --down, then bun run demo)\n",
      out: "",
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
