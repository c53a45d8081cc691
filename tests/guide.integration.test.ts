import { afterAll, expect, test } from "bun:test";
import { readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { runAsync } from "../server/shared/proc.ts";
import { BUILD_CACHE_ENV } from "./helpers/build-cache.ts";
import { startEmulator } from "./helpers/emulator.ts";
import { track, waitForLine } from "./helpers/processes.ts";
import { fileTempDir } from "./helpers/tmp.ts";

// docs/digitalocean.md, followed as written by a new user on a fresh clone, against the
// emulator standing in for DigitalOcean. Its fenced blocks are run as they are; the test only
// does what the page asks the reader to do by hand (type the token, edit the config, commit).
const ROOT = resolve(import.meta.dir, "..");
const GUIDE = readFileSync(join(ROOT, "docs/digitalocean.md"), "utf8");
const blocks = [...GUIDE.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);

const emulator = await startEmulator();
const home = fileTempDir("dropship-guide-");
const clone = join(home, "app");
const askpass = join(home, "askpass");
const env = {
  // step 1's `export PATH=…`; the rest of step 1 (npm test) is what this suite is
  PATH: `${clone}/node_modules/.bin:${process.env.PATH}`,
  HOME: home,
  // the one difference from the cloud: where the API is
  DIGITALOCEAN_API_URL: emulator.apiUrl,
  // the password prompt of `git push`, answered as the reader would: DROPSHIP_ADMIN_TOKEN
  GIT_ASKPASS: askpass,
  // the package cache of this machine, so the push gate's install need not download again
  BUN_INSTALL_CACHE_DIR: join(process.env.HOME ?? "/root", ".bun/install/cache"),
  // and the run's build cache, for setup's build of the commit the demos built already
  ...BUILD_CACHE_ENV,
};

async function runBlock(index: number, stdin = "") {
  const argv = ["bash", "-e", "-o", "pipefail", "-c", blocks[index] as string];
  const { code, stdout, stderr } = await runAsync(argv, { cwd: clone, env, stdin });
  return { code, out: stdout, err: stderr };
}

const git = (...args: string[]) =>
  Bun.spawnSync(["git", "-C", clone, "-c", "user.name=Ann", "-c", "user.email=ann@shop", ...args]);

test("the guide has the blocks this test follows, in order", () => {
  expect(blocks).toHaveLength(8);
  expect(blocks[0]).toContain("npm test");
  expect(blocks[0]).toContain('export PATH="$PWD/node_modules/.bin:$PATH"');
  expect(blocks[1]).toContain("cat >> .env <<END");
  expect(blocks[2]).toBe("cp dropship.example.yml dropship.yml\n");
  expect(blocks[3]).toBe("bun run config\n");
  expect(blocks[4]).toContain("bun run setup\n");
  expect(blocks[5]).toBe("bun run receiver\n");
  expect(blocks[6]).toContain("git push prod main");
  expect(blocks[7]).toContain("bun run status");
});

test("docs/digitalocean.md takes a fresh clone to a deployed fleet, verbatim", async () => {
  Bun.spawnSync(["git", "clone", "-q", ROOT, clone]);
  git("checkout", "-q", "-B", "main");
  symlinkSync(join(ROOT, "node_modules"), join(clone, "node_modules"));
  writeFileSync(askpass, `#!/bin/sh\nsed -n 's/^DROPSHIP_ADMIN_TOKEN=//p' ${clone}/.env\n`, {
    mode: 0o755,
  });

  // 2. the token is typed at the prompt
  const secrets = await runBlock(1, `${emulator.token}\n`);
  expect(secrets.err).toBe(""); // bash prompts only on a terminal
  expect(secrets.code).toBe(0);
  const dotEnv = readFileSync(join(clone, ".env"), "utf8");
  expect(dotEnv).toContain(`DIGITALOCEAN_TOKEN=${emulator.token}\n`);
  expect(dotEnv).toMatch(/^DROPSHIP_ADMIN_TOKEN=[0-9a-f]{32}$/m);

  // 3. the config, with one value changed as the reader would
  expect((await runBlock(2)).code).toBe(0);
  const config = join(clone, "dropship.yml");
  const example = readFileSync(config, "utf8");
  expect(example).toContain("  max: 4 #");
  writeFileSync(config, example.replace("  max: 4 #", "  max: 3 #"));
  const checked = await runBlock(3);
  expect(checked.code).toBe(0);
  expect(checked.out).toContain("max: 3");

  // 4. the fleet
  const setup = await runBlock(4);
  expect(setup.err).toBe("$ bun scripts/setup.ts --dry-run\n$ bun scripts/setup.ts\n");
  expect(setup.code).toBe(0);
  expect(setup.out).toContain(`config: ${config}`);
  expect(setup.out).toContain("✓ dropship is up: http://");

  // 5. the receiver, kept running, applies the changed value
  const receiver = track(
    Bun.spawn(["bash", "-c", `exec ${blocks[5]}`], {
      cwd: clone,
      env,
      stdout: "pipe",
      stderr: "inherit",
    }),
  );
  afterAll(async () => {
    receiver.kill("SIGTERM");
    await receiver.exited;
  }, 30_000);
  const started = await waitForLine(receiver.stdout, /autoscaler o/, 30_000, "the receiver");
  expect(started).toContain(`dropship-receiver: config: ${config}\n`);
  expect(started).toContain("autoscaler on (proxy_cpu, 2–3 hosts)");

  // a new commit on main, pushed as the page says, then the canary
  writeFileSync(join(clone, "CHANGES.md"), "- the first change shipped with dropship\n");
  git("add", "CHANGES.md");
  git("commit", "-q", "-m", "A first change");
  const commit = git("rev-parse", "--short=12", "HEAD").stdout.toString().trim();
  const pushed = await runBlock(6);
  // the push's own output when it fails, so the failure says why
  expect({ code: pushed.code, tail: pushed.code === 0 ? "" : pushed.err.slice(-4000) }).toEqual({
    code: 0,
    tail: "",
  });
  expect(pushed.err).toContain(`✓ ${commit} is live on production`);
  expect(pushed.err).toContain(`✓ ${commit} is live on staging`);
  const fleetEnv = readFileSync(join(clone, ".dropship/fleet.env"), "utf8");
  const proxy = /^PROXY_URL=(\S+)$/m.exec(fleetEnv)?.[1];
  // both tracks run the new commit now, so any visitor sees it
  const answer = await (await fetch(`${proxy}/`)).text();
  expect(answer).toContain(`Hello from dropship`);
  expect(answer).toContain(commit);

  // 6. running it, with nothing else set
  const ran = await runBlock(7);
  expect(ran.err).not.toContain("dropship status:");
  expect(ran.code).toBe(0);
  expect(ran.out).toMatch(/dropship-production-1\s+production\s+[\d.]+\s+\w{12}/);
  expect(ran.out).toContain("disableSET");
  expect(ran.out).toMatch(/canary.*30%/i);
  expect(ran.out).toMatch(/^dropship-production-\d app\s+\| \S+Z /m);
  expect(ran.out).toMatch(/load average/);
}, 600_000);
