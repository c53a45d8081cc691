import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { isAlive } from "../../server/shared/proc.ts";
import { tempDir } from "../helpers/tmp.ts";

const ROOT = resolve(import.meta.dir, "../..");

function run(script: string, args: string[], env: Record<string, string>) {
  const proc = Bun.spawnSync([process.execPath, join(ROOT, script), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: proc.exitCode, out: proc.stdout.toString(), err: proc.stderr.toString() };
}

function parseEnv(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .trim()
      .split("\n")
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
}

test("the demo comes up detached, splits through its proxy, flips a flag, and --down leaves nothing", async () => {
  const dir = tempDir("dropship-demo-");
  const env = { DROPSHIP_DEMO_DIR: dir };
  const up = run("scripts/demo.ts", ["--detach"], env);
  expect(up.err).toBe("");
  expect(up.code).toBe(0);
  const pids = JSON.parse(readFileSync(join(dir, "demo/pids.json"), "utf8")) as number[];
  try {
    expect(pids).toHaveLength(7);
    const settings = parseEnv(readFileSync(join(dir, "demo.env"), "utf8"));
    const production = (settings.PRODUCTION_URLS ?? "").split(",");
    expect(production).toHaveLength(2);
    for (const url of production) {
      expect(await (await fetch(`${url}/`)).text()).toContain("production");
    }
    const staging = settings.STAGING_URL ?? "";
    expect(await (await fetch(`${staging}/`)).text()).toContain("staging");
    expect((await fetch(`${staging}/set`)).status).toBe(200);

    const flip = run("scripts/flags.ts", ["set", "disableSET", "on"], {
      REDIS_URL: settings.REDIS_URL ?? "",
    });
    expect(flip.out.trim()).toBe("disableSET: off → on");
    await Bun.sleep(200);
    for (const url of [...production, staging])
      expect((await fetch(`${url}/set`)).status).toBe(403);

    const proxy = settings.PROXY_URL ?? "";
    const tracks = new Set<string | null>();
    for (let i = 0; i < 50; i++)
      tracks.add((await fetch(`${proxy}/`)).headers.get("x-dropship-track"));
    expect(tracks).toEqual(new Set(["production", "staging"]));
    const off = await fetch(`${proxy}/disable/0`, {
      headers: { authorization: `Bearer ${settings.DROPSHIP_ADMIN_TOKEN}` },
    });
    expect(off.status).toBe(200);
    await Bun.sleep(200);
    expect((await fetch(`${proxy}/set`)).status).toBe(200);
    expect((await fetch(`${settings.DASHBOARD_URL}`)).status).toBe(401);
    const refs = Bun.spawnSync(["git", "ls-remote", settings.GIT_REMOTE ?? ""], { stderr: "pipe" });
    expect(refs.exitCode).toBe(0);

    const again = run("scripts/demo.ts", ["--detach"], env);
    expect(again.code).toBe(1);
    expect(again.err).toContain("already running");
  } finally {
    const down = run("scripts/demo.ts", ["--down"], env);
    expect(down.out).toContain("stopped 7 processes");
  }
  for (const pid of pids) expect(isAlive(pid)).toBe(false);
  expect(existsSync(join(dir, "demo.env"))).toBe(false);
}, 60_000);
