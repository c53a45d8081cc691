// lane: droplets-1 — its droplets boot on emulator network 1, in a droplet lane of its own
import { afterEach, expect, test } from "bun:test";
import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { addHost, EMPTY } from "../../../gitops/model.ts";
import { InventoryRepo } from "../../../gitops/repo.ts";
import { startCanary } from "../../../pipeline/deploy.ts";
import { type FleetHost, gitopsInventories, readFleet } from "../../../pipeline/fleet.ts";
import { jobOutputCleaner, runJob } from "../../../pipeline/job-run.ts";
import { type Job, type JobRun, jobHosts } from "../../../pipeline/jobs.ts";
import { EMULATOR } from "../../../server/emulator/this-network.ts";
import { startJobSchedule } from "../../../server/receiver/jobs.ts";
import { runPlaybook } from "../../../server/shared/ansible.ts";
import { DigitalOcean } from "../../../server/shared/cloud/digitalocean.ts";
import { createHosts } from "../../../server/shared/cloud/provision.ts";
import { appSettingsVariable } from "../../../server/shared/config/env-file.ts";
import { loadConfigOrDefaults } from "../../../server/shared/config/load.ts";
import { APP_ENV_ON_HOST, hostCommands } from "../../../server/shared/host/layout.ts";
import { Mailer } from "../../../server/shared/mailer.ts";
import { runAsync } from "../../../server/shared/proc.ts";
import { parseBackend } from "../../../server/shared/routing/model.ts";
import { Ssh, targetOf, withSsh } from "../../../server/shared/ssh.ts";
import { readAudit } from "../../../server/shared/state/audit.ts";
import { markReplacing, unmarkReplacing } from "../../../server/shared/state/hosts.ts";
import { lastRuns, saveRun } from "../../../server/shared/state/jobs.ts";
import { KEYS } from "../../../server/shared/state/keys.ts";
import { changeMaintenance } from "../../../server/shared/state/maintenance.ts";
import { changeCanary, readCanary } from "../../../server/shared/state/routing.ts";
import { formatUsers, tokenHash } from "../../../server/shared/users.ts";
import { mainPidOf, startEmulator, userKey } from "../../helpers/emulator.ts";
import { ADMIN_TOKEN, addBackend, startProxy } from "../../helpers/proxy.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { startServer } from "../../helpers/server.ts";
import { startSmtp } from "../../helpers/smtp.ts";
import { fileTempDir } from "../../helpers/tmp.ts";

const ROOT = resolve(import.meta.dir, "../../..");
const TOKEN = "push-token-0123456789abcdef";
// Named users: each push is recorded under its token's owner (DROPSHIP_USERS_FILE).
const ANN_TOKEN = "ann-token-0123456789abcdef";
const BOB_TOKEN = "bob-token-0123456789abcdef";
const emulator = await startEmulator();
const redis = await startRedis({ bind: ["127.0.0.1", EMULATOR.public.gateway] });
const state = await connectTo(redis);
const provider = new DigitalOcean({ token: emulator.token, apiUrl: emulator.apiUrl });
const account = userKey();
const dir = fileTempDir("dropship-push-");

// Two production droplets, converged with product.yml, their apps reaching Redis on the bridge.
const key = await provider.ensureSshKey("dropship", account.publicKey);
const hosts = await createHosts(
  provider,
  ["web-1", "web-2"].map((name) => ({
    name,
    region: "nyc3",
    size: "s-1vcpu-1gb",
    image: "debian-12-x64",
    sshKeys: [key.id],
    tags: [],
  })),
  20_000,
  50,
);
writeFileSync(join(dir, "id"), account.privateKey, { mode: 0o600 });
writeFileSync(join(dir, "known_hosts"), hosts.map((h) => h.knownHost).join("\n"));
// The fleet lives in the GitOps inventory repository; Ansible and the receiver read it there.
const gitops = new InventoryRepo(join(dir, "gitops"));
let fleet = EMPTY;
for (const h of hosts) {
  fleet = addHost(fleet, {
    name: h.name,
    role: "production",
    dropletId: h.droplet.id,
    address: h.droplet.ip as string,
    region: h.droplet.region,
    size: h.droplet.size,
    created: h.droplet.createdAt,
  });
}
await gitops.commit(fleet, "hosts made by the test");
const connection = { privateKeyFile: join(dir, "id"), knownHostsFile: join(dir, "known_hosts") };
const inventory = gitopsInventories(gitops.dir, connection, join(dir, "ansible"));
const fleetEnv = {
  DROPSHIP_GITOPS_REPO: gitops.dir,
  DROPSHIP_SSH_KEY: connection.privateKeyFile,
  DROPSHIP_KNOWN_HOSTS: connection.knownHostsFile,
};
const appRedisUrl = redis.url.replace("127.0.0.1", EMULATOR.public.gateway);
await runPlaybook("product.yml", inventory, { REDIS_URL: appRedisUrl });
for (const h of hosts) await addBackend(state, "production", `http://${h.droplet.ip}:3000`);
const proxy = await startProxy(redis);

writeFileSync(
  join(dir, "dropship.yml"),
  `pipeline:\n  repos: [app, other]\n  test:\n    master: bun test tests/server/app/requests.test.ts\n  health_timeout: 15s\n`,
);
writeFileSync(
  join(dir, "users"),
  formatUsers([
    { name: "ann", hash: tokenHash(ANN_TOKEN), added: "2026-11-30" },
    { name: "bob", hash: tokenHash(BOB_TOKEN), added: "2026-11-30" },
  ]),
);
const receiver = await startServer("receiver", {
  DROPSHIP_ADMIN_TOKEN: TOKEN,
  DROPSHIP_REPOS: join(dir, "repos"),
  DROPSHIP_WORK: join(dir, "work"),
  DROPSHIP_CONFIG: join(dir, "dropship.yml"),
  DROPSHIP_USERS_FILE: join(dir, "users"),
  ...fleetEnv,
  REDIS_URL: redis.url,
});

// A developer's clone of this project, pushing to the receiver.
const clone = join(dir, "clone");
const gitArgs = (args: string[]) => [
  "git",
  "-c",
  "user.name=Ann",
  "-c",
  "user.email=ann@example.com",
  ...args,
];
const git = (...args: string[]) => {
  const proc = Bun.spawnSync(gitArgs(args), { cwd: clone, stdout: "pipe", stderr: "pipe" });
  return { code: proc.exitCode, output: proc.stdout.toString() + proc.stderr.toString() };
};
/**
 * A push that leaves the event loop free, so load can run meanwhile, its output watched as it
 * comes: `seen(text)` answers true once it has said `text`, false if it ended without; `done`
 * is the whole push.
 */
const pushWatched = (...args: string[]) => {
  const proc = Bun.spawn(gitArgs(["push", ...args]), {
    cwd: clone,
    stdout: "pipe",
    stderr: "pipe",
  });
  let output = "";
  const read = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
  };
  const done = Promise.all([read(proc.stdout), read(proc.stderr), proc.exited]).then(
    ([, , code]) => ({ code, output }),
  );
  const seen = async (text: string) => {
    let ended = false;
    void done.finally(() => {
      ended = true;
    });
    while (!output.includes(text) && !ended) await Bun.sleep(50);
    return output.includes(text);
  };
  return { seen, done };
};
Bun.spawnSync(["git", "clone", "-q", ROOT, clone]);
// The gate runs the pushed tree's own check. The whole project's (its types and lint: some 8
// CPU-seconds) is run by the demo's and the guide's pushes; this file's dozen pushes, beside the
// suite's other lanes, lint the app alone: the gate's steps are the same.
const manifest = JSON.parse(readFileSync(join(clone, "package.json"), "utf8"));
manifest.scripts.check = "biome check server/app";
writeFileSync(join(clone, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
git("commit", "-qam", "this clone's pushes lint the app alone");
git("remote", "add", "prod", `http://ann:${ANN_TOKEN}@127.0.0.1:${receiver.port}/app.git`);
const head = () => git("rev-parse", "HEAD").output.trim();
/** Takes back a test's bad commit even when the test fails, so the next test starts clean. */
let undo: (() => unknown) | undefined;
afterEach(() => {
  undo?.();
  undo = undefined;
});
/** Commits one edit to a file of the clone, taken back after the test whatever happens. */
const commitBadChange = (file: string, from: string, to: string, message: string) => {
  const path = join(clone, file);
  writeFileSync(path, readFileSync(path, "utf8").replace(from, to));
  git("commit", "-qam", message);
  undo = () => git("reset", "-q", "--hard", "HEAD~1");
};
const versionOn = async (ip: string) =>
  ((await (await fetch(`http://${ip}:3000/healthz`)).json()) as { version: string }).version;
/** What the commands (deploy, rollback, env) run with: the receiver's settings and the fleet. */
const cliEnv = {
  PATH: process.env.PATH ?? "",
  DROPSHIP_REPOS: join(dir, "repos"),
  DROPSHIP_WORK: join(dir, "work"),
  DROPSHIP_CONFIG: join(dir, "dropship.yml"),
  ...fleetEnv,
  REDIS_URL: redis.url,
};
const serverBranch = () =>
  Bun.spawnSync(["git", "--git-dir", join(dir, "repos/app.git"), "rev-parse", "master"])
    .stdout.toString()
    .trim();

/** What the routing table said of a backend since `since` (ms), oldest first: draining, back in rotation. */
async function drainsOf(id: string, since: number): Promise<string[]> {
  const entries = await readAudit(state, { kind: "backend", target: id, limit: 50 });
  return entries
    .filter((entry) => Number(entry.id.split("-")[0]) >= since && entry.new)
    .reverse()
    .map((entry) => (parseBackend(entry.new)?.draining ? "draining" : "back in rotation"));
}

/**
 * Visitors' requests through the proxy, 8 at a time, until `stop()`: answers what each came to
 * ("ok" for a 200 with its body read).
 */
function steadyLoad() {
  let stopped = false;
  const outcomes: string[] = [];
  const loops = Array.from({ length: 8 }, async () => {
    while (!stopped) {
      try {
        const response = await fetch(`${proxy.url}/`);
        await response.arrayBuffer();
        outcomes.push(response.status === 200 ? "ok" : `HTTP ${response.status}`);
      } catch (error) {
        outcomes.push(`error ${(error as Error).message}`);
      }
    }
  });
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
      return outcomes;
    },
  };
}

test("a passing push to master is tested, built and rolled out to every production host", async () => {
  const push = git("push", "prod", "HEAD:master");
  expect(push.output).toContain("▸ test (bun test tests/server/app/requests.test.ts)");
  expect(push.output).toMatch(/remote: ✓ \w{12} is live on production/);
  expect(push.code).toBe(0);
  for (const h of hosts) expect(await versionOn(h.droplet.ip as string)).toBe(head().slice(0, 12));
  expect(serverBranch()).toBe(head());
  const [deploy] = await state.xrevrange(KEYS.deploys, "+", "-", "COUNT", 1);
  expect(deploy?.[1]).toEqual(
    expect.arrayContaining(["result", "deployed", "who", "ann", "branch", "master"]),
  );
  // the GitOps inventory records what each host runs, in a commit that says who shipped it
  const [recorded] = await gitops.history(1);
  expect(recorded?.message).toBe(`deploy production: ${head().slice(0, 12)} from master by ann`);
  expect((await gitops.read()).hosts.map((h) => h.release)).toEqual([
    head().slice(0, 12),
    head().slice(0, 12),
  ]);
}, 120_000);

test("a deploy under steady load through the proxy fails no request", async () => {
  appendFileSync(join(clone, "README.md"), "\nA line for the second release.\n");
  git("commit", "-qam", "second release");
  const pushing = pushWatched("prod", "HEAD:master");
  // the load from the build on: the steps before it (checkout, install, check, tests) run in
  // the receiver's sandbox and touch nothing that serves, and a load at full speed beside them
  // only took the machine's cores from them
  expect(await pushing.seen("▸ build")).toBe(true);
  const load = steadyLoad();
  const push = await pushing.done;
  const outcomes = await load.stop();
  expect(push.code).toBe(0);
  expect(outcomes.length).toBeGreaterThan(200);
  expect(outcomes.filter((o) => o !== "ok")).toEqual([]);
  for (const h of hosts) expect(await versionOn(h.droplet.ip as string)).toBe(head().slice(0, 12));
}, 120_000);

test("a failing test rejects the push and leaves every host and the branch as they were", async () => {
  const before = serverBranch();
  commitBadChange(
    "tests/server/app/requests.test.ts",
    "toEqual({ ok: true, value: DEFAULT_MESSAGE })",
    "toEqual({ ok: true, value: { ...DEFAULT_MESSAGE, ttl: 11 } })",
    "a broken test",
  );
  const push = git("push", "prod", "HEAD:master");
  expect(push.code).not.toBe(0);
  expect(push.output).toContain(
    "remote: ✗ push rejected: test (bun test tests/server/app/requests.test.ts) failed",
  );
  expect(serverBranch()).toBe(before);
  for (const h of hosts) expect(await versionOn(h.droplet.ip as string)).toBe(before.slice(0, 12));
}, 120_000);

test("pushed code runs as the build user in a sandbox: no secret, no key, no network", () => {
  const config = join(dir, "dropship.yml");
  const good = readFileSync(config, "utf8");
  writeFileSync(
    config,
    good.replace("tests/server/app/requests.test.ts", "./tests/sandbox-probe.test.js"),
  );
  // what a hostile test would try, each attempt said in the push output; then it fails. Plain
  // JavaScript, which the project's check (types, lint) leaves alone.
  const probe = `
import { test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
const tryTo = async (what, work) => {
  try { console.log(\`probe \${what}: DONE \${String(await work()).slice(0, 80)}\`); }
  catch (error) { console.log(\`probe \${what}: \${error.code ?? error.message}\`); }
};
test("probe", async () => {
  console.log(\`probe env: \${Object.keys(process.env).sort().join(",")}\`);
  console.log(\`probe uid: \${process.getuid()}\`);
  await tryTo("ssh key", () => readFileSync(${JSON.stringify(join(dir, "id"))}, "utf8"));
  await tryTo("repos", () => readdirSync(${JSON.stringify(join(dir, "repos"))}));
  await tryTo("parent environ", () => readFileSync("/proc/1/environ", "utf8"));
  await tryTo("cache write", () => writeFileSync("node_modules/.poisoned", "x"));
  await tryTo("redis", () => fetch(${JSON.stringify(`http://${EMULATOR.public.gateway}:${redis.port}/`)}).then((r) => r.status));
  await tryTo("registry", () => fetch("https://registry.npmjs.org/").then((r) => r.status));
  throw new Error("probe done");
});
`;
  writeFileSync(join(clone, "tests/sandbox-probe.test.js"), probe);
  git("add", "tests/sandbox-probe.test.js");
  git("commit", "-qm", "a hostile test");
  undo = () => {
    git("reset", "-q", "--hard", "HEAD~1");
    writeFileSync(config, good);
  };
  const push = git("push", "prod", "HEAD:master");
  const out = push.output;
  expect(push.code).not.toBe(0);
  // the sandbox's five, and what sh (PWD) and bun test (NODE_ENV) set themselves
  // (git pads each remote: line with spaces)
  expect(out).toMatch(/^remote: +probe env: CI,HOME,LANG,NODE_ENV,PATH,PWD,TMPDIR *$/m);
  const uid = Number(Bun.spawnSync(["id", "-u", "dropship-build"]).stdout.toString());
  expect(uid).toBeGreaterThan(0);
  expect(out).toMatch(new RegExp(`probe uid: ${uid} *$`, "m"));
  expect(out).toContain("probe ssh key: ENOENT");
  expect(out).toContain("probe repos: ENOENT");
  expect(out).toMatch(/probe parent environ: (EACCES|EPERM)/);
  expect(out).toMatch(/probe cache write: (EROFS|EACCES)/);
  for (const reached of ["redis", "registry"]) {
    expect(out).toContain(`probe ${reached}: `);
    expect(out).not.toContain(`probe ${reached}: DONE`);
  }
  for (const secret of [TOKEN, ANN_TOKEN, redis.password, account.privateKey.slice(40, 80)])
    expect(out).not.toContain(secret);
  expect(out).toContain(
    "remote: ✗ push rejected: test (bun test ./tests/sandbox-probe.test.js) failed",
  );
}, 120_000);

test("a release whose /healthz fails is rolled back on every host it reached", async () => {
  const before = serverBranch();
  commitBadChange(
    "server/app/app.ts",
    '{ status: phase === "serving" ? 200 : 503 }',
    "{ status: 503 }",
    "a release that never gets healthy",
  );
  const push = git("push", "prod", "HEAD:master");
  expect(push.code).not.toBe(0);
  expect(push.output).toMatch(/remote: ✗ web-1: .* did not report \w{12} within 15000 ms/);
  expect(push.output).toContain(`remote: ↺ web-1: back on ${before.slice(0, 12)}`);
  expect(serverBranch()).toBe(before);
  // the rolled-back hosts answer on the old release the moment the push returns
  for (const h of hosts) expect(await versionOn(h.droplet.ip as string)).toBe(before.slice(0, 12));
}, 120_000);

test("a release that exits at start on the second host is given up there at once, saying what it said, and rolls the first one back too", async () => {
  const before = serverBranch();
  const pushed = Date.now();
  commitBadChange(
    "server/app/main.ts",
    "  const env = readEnv(SPEC);",
    `  const env = readEnv(SPEC);
  if (hostname() === "web-2") {
    console.error("error: this release cannot run on web-2");
    process.exit(3);
  }`,
    "a release that only web-2 cannot run",
  );
  const push = git("push", "prod", "HEAD:master");
  expect(push.code).not.toBe(0);
  expect(push.output).toMatch(/remote: {3}switched, restarted, healthy on \w{12}/);
  // systemd's restarts counted, not the 15 s health timeout waited out
  expect(push.output).toMatch(
    /remote: ✗ web-2: .*dropship-app keeps exiting \(code=exited, status=3\/\w+; restarted \d+ times\): \S+Z error: this release cannot run on web-2 \(bun run logs shows more\)/,
  );
  expect(push.output).not.toContain("within 15000 ms");
  expect(push.output).toContain(`remote: ↺ web-2: back on ${before.slice(0, 12)}`);
  expect(push.output).toContain(`remote: ↺ web-1: back on ${before.slice(0, 12)}`);
  expect(serverBranch()).toBe(before);
  for (const h of hosts) expect(await versionOn(h.droplet.ip as string)).toBe(before.slice(0, 12));
  // web-1, back in the rotation on the bad release, left it again before its restart back (web-2
  // serving by then): the proxy's routing table, as the audit has it
  const [web1] = hosts.map((h) => `${h.droplet.ip}:3000`);
  expect(await drainsOf(web1 as string, pushed)).toEqual([
    "draining",
    "back in rotation",
    "draining",
    "back in rotation",
  ]);
}, 120_000);

test("a host that cannot take the release fails the push before any host leaves the rotation", async () => {
  const before = serverBranch();
  commitBadChange("server/app/app.ts", "Hello from dropship", "Hallo from dropship", "a greeting");
  const release = head().slice(0, 12);
  // web-2's releases folder already holds a file by the release's name: mkdir fails there
  const web2 = hosts[1] as (typeof hosts)[number];
  const onWeb2 = (command: string) =>
    withSsh(
      targetOf(
        { address: web2.droplet.ip as string, hostPublicKey: web2.hostKey.publicKey },
        { privateKey: account.privateKey },
      ),
      (ssh) => ssh.check(command),
    );
  await onWeb2(`touch /srv/dropship/releases/${release}`);
  try {
    const push = git("push", "prod", "HEAD:master");
    expect(push.code).not.toBe(0);
    expect(push.output).toMatch(/remote: {3}web-1: shipped \d+ KiB/);
    expect(push.output).toContain(`remote: ✗ web-2: `);
    expect(push.output).toContain(`${release} could not be put on web-2 (`);
    expect(push.output).toContain("no host was switched");
    expect(push.output).not.toContain("remote:   drained");
    expect(serverBranch()).toBe(before);
    for (const h of hosts)
      expect(await versionOn(h.droplet.ip as string)).toBe(before.slice(0, 12));
    // nothing left on web-1 to go back to by mistake
    const web1 = hosts[0] as (typeof hosts)[number];
    const left = await withSsh(
      targetOf(
        { address: web1.droplet.ip as string, hostPublicKey: web1.hostKey.publicKey },
        { privateKey: account.privateKey },
      ),
      (ssh) => ssh.exec(`test -e /srv/dropship/releases/${release}`),
    );
    expect(left.code).not.toBe(0);
  } finally {
    await onWeb2(`rm -f /srv/dropship/releases/${release}`);
  }
}, 120_000);

test("pushes that delete or rewrite master, or bring wrong credentials, are refused", () => {
  expect(git("push", "prod", ":master").output).toContain("remote: ✗ refusing to delete master");
  expect(git("push", "-f", "prod", "HEAD~1:master").output).toContain(
    "remote: ✗ refusing a force-push that rewrites master",
  );
  const wrong = git("push", `http://ann:wrong@127.0.0.1:${receiver.port}/app.git`, "HEAD:master");
  expect(wrong.code).not.toBe(0);
  expect(wrong.output).toContain("Authentication failed");
  expect(wrong.output).toContain(
    "remote: Push credentials are needed: wrong credentials. Put the admin token, or your own from bun run users add NAME, in the remote URL's password.",
  );
  expect(serverBranch()).toBe(head());
});

test("two pushes to master at once take turns, and the later one does not deploy over a moved branch", async () => {
  const second = join(dir, "clone-2");
  Bun.spawnSync(["git", "clone", "-q", join(dir, "clone"), second]);
  appendFileSync(join(clone, "README.md"), "\nA third release.\n");
  git("commit", "-qam", "third release");
  Bun.spawnSync(["git", "-C", second, "fetch", "-q", join(dir, "clone"), "HEAD"]);
  Bun.spawnSync(["git", "-C", second, "reset", "-q", "--hard", "FETCH_HEAD"]);
  Bun.spawnSync(["git", "-C", second, "commit", "-q", "--allow-empty", "-m", "racing release"], {
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "Bob",
      GIT_AUTHOR_EMAIL: "b@x",
      GIT_COMMITTER_NAME: "Bob",
      GIT_COMMITTER_EMAIL: "b@x",
    },
  });
  const remote = `http://bob:${BOB_TOKEN}@127.0.0.1:${receiver.port}/app.git`;
  const firstPush = pushWatched("prod", "HEAD:master");
  // the racing push starts once the first holds the deploy lock (its gate has begun): after a
  // fixed 300 ms the second won the lock once on a busy machine, and the test is about order
  expect(await firstPush.seen("▸ sandbox")).toBe(true);
  const first = firstPush.done;
  const racing = Bun.spawn(["git", "-C", second, "push", remote, "HEAD:master"], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [one, two] = await Promise.all([
    first,
    Promise.all([
      new Response(racing.stdout).text(),
      new Response(racing.stderr).text(),
      racing.exited,
    ]).then(([o, e, code]) => ({ code, output: o + e })),
  ]);
  expect(one.code).toBe(0);
  expect(two.code).not.toBe(0);
  expect(two.output).toContain("remote: waiting: a production deploy is running (master");
  expect(two.output).toMatch(
    /remote: ✗ push rejected: master moved to \w{12} while this push waited; pull, then push again/,
  );
  expect(serverBranch()).toBe(head());
  for (const h of hosts) expect(await versionOn(h.droplet.ip as string)).toBe(head().slice(0, 12));
}, 180_000);

test("bun run status shows the hosts, the fleet's cost and the deploys: who pushed what, and how it ended; and maintenance while on", async () => {
  const status = () => {
    const proc = Bun.spawnSync([process.execPath, join(ROOT, "scripts/status.ts")], {
      env: {
        PATH: process.env.PATH ?? "",
        REDIS_URL: redis.url,
        PROXY_URL: proxy.url,
        DASHBOARD_URL: `${proxy.adminUrl}/_dropship/`,
        DROPSHIP_ADMIN_TOKEN: ADMIN_TOKEN,
        ...fleetEnv,
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(proc.exitCode).toBe(0);
    return proc.stdout.toString();
  };
  const out = status();
  expect(out).toMatch(new RegExp(`master\\s+${head().slice(0, 12)}\\s+ann\\s+deployed`));
  expect(out).toMatch(/master\s+\w{12}\s+bob\s+failed/);
  for (const h of hosts) {
    expect(out).toMatch(
      new RegExp(
        `${h.name}\\s+production\\s+${h.droplet.ip}\\s+${head().slice(0, 12)}\\s+in rotation\\s+healthy\\s+0`,
      ),
    );
  }
  expect(out).toContain("COST    $0.0179/h (~$12/month) for 2 droplets");
  expect(out).toContain("ALERTS  none");
  expect(out).not.toContain("being replaced");
  // a host the heal is replacing says so under the table (its monitor mails nothing meanwhile)
  await markReplacing(state, "web-2", "gone from the cloud API");
  try {
    expect(status()).toContain(
      "\n(web-2 is being replaced by the heal: gone from the cloud API)\n",
    );
  } finally {
    await unmarkReplacing(state, "web-2");
  }
  expect(out).not.toContain("MAINTENANCE");
  await changeMaintenance(state, { on: true, message: "back soon" }, "ann@example.com");
  try {
    expect(status()).toMatch(
      /\nMAINTENANCE on since \S+ \(by ann@example\.com\): every app request gets a 503 page — bun run maintenance off\n/,
    );
  } finally {
    await changeMaintenance(state, { on: false, message: "" }, "ann@example.com");
  }
});

test("bun run rollback and bun run deploy do the same without a push, and move the branch; a freeze refuses all but the rollback; the team's hooks run around them", async () => {
  const env = cliEnv;
  const cli = (script: string, ...args: string[]) => {
    const proc = Bun.spawnSync([process.execPath, join(ROOT, script), ...args], {
      env,
      stdout: "pipe",
      stderr: "pipe",
    });
    return { code: proc.exitCode, output: proc.stdout.toString() + proc.stderr.toString() };
  };
  const live = serverBranch();
  // the team's hooks (pipeline/hooks), run beside the config: each writes what it was told
  const config = join(dir, "dropship.yml");
  const good = readFileSync(config, "utf8");
  writeFileSync(
    config,
    `${good.replace("pipeline:\n", "pipeline:\n  hooks:\n    pre_deploy: 'test ! -e refuse || { echo \"no deploys during the migration\" >&2; exit 1; }; env | grep ^DROPSHIP_ | sort > pre-$DROPSHIP_COMMAND.env'\n    post_deploy: 'env | sort > post-$DROPSHIP_COMMAND.env'\n")}`,
  );
  const told = (file: string) =>
    existsSync(join(dir, file))
      ? Object.fromEntries(
          readFileSync(join(dir, file), "utf8")
            .trim()
            .split("\n")
            .map((line) => line.split(/=(.*)/s).slice(0, 2)),
        )
      : undefined;
  undo = () => {
    writeFileSync(config, good);
    for (const file of [
      "refuse",
      "pre-push.env",
      "pre-deploy.env",
      "post-deploy.env",
      "post-rollback.env",
    ])
      rmSync(join(dir, file), { force: true });
  };
  // frozen deploys (bun run freeze): a rollback goes all the same, saying so, one host at a time
  // as a deploy goes (drained at the proxy: no visitor's request fails)
  expect(cli("scripts/freeze.ts", "on", "incident", "42").code).toBe(0);
  // web-2 as a host a scale-out or a heal added since: it has only the release it runs, which
  // stopped the rollback there, web-1 back and web-2 not; it is now given the release first
  const web2 = hosts[1] as (typeof hosts)[number];
  await withSsh(
    targetOf(
      { address: web2.droplet.ip as string, hostPublicKey: web2.hostKey.publicKey },
      { privateKey: account.privateKey },
    ),
    (ssh) =>
      ssh.check(
        `cd /srv/dropship && now=$(basename "$(readlink current)") && for r in releases/*; do [ "\${r#releases/}" = "$now" ] || rm -rf "$r"; done && echo "$now" > deployed && ls releases`,
      ),
  );
  const rollbackStarted = Date.now();
  const load = steadyLoad();
  const rolling = await runAsync(
    [process.execPath, join(ROOT, "scripts/rollback.ts"), "production"],
    {
      env: { ...env, DROPSHIP_ACTOR: "ann@example.com" },
    },
  );
  const outcomes = await load.stop();
  const back = { code: rolling.code, output: rolling.stdout + rolling.stderr };
  expect({ code: back.code, output: back.output }).toMatchObject({ code: 0 });
  expect(outcomes.length).toBeGreaterThan(100);
  expect(outcomes.filter((o) => o !== "ok")).toEqual([]);
  expect(back.output).toMatch(
    /^\(deploys are frozen since \S+Z by [^:]+: “incident 42”; a rollback goes all the same\)\n/,
  );
  const previous = /↺ web-1: \w{12} → (\w{12})/.exec(back.output)?.[1] as string;
  expect(previous).toBeTruthy();
  expect(back.output).toContain(
    `  web-2: given ${previous}, which it did not have (it came after ${previous} ran)\n`,
  );
  expect(back.output).toContain(`↺ web-2: ${live.slice(0, 12)} → ${previous}`);
  expect(previous).not.toBe(live.slice(0, 12));
  for (const h of hosts) expect(await versionOn(h.droplet.ip as string)).toBe(previous);
  expect(serverBranch().slice(0, 12)).toBe(previous);
  const [recorded] = await gitops.history(1);
  expect(recorded?.message).toMatch(new RegExp(`^rollback production: back to ${previous} by `));
  // each host was out of the rotation while it restarted: drained, then back, in the audit
  for (const h of hosts)
    expect(await drainsOf(`${h.droplet.ip}:3000`, rollbackStarted)).toEqual([
      "draining",
      "back in rotation",
    ]);
  // in the audit, and among the deploys (bun run status's LAST DEPLOYS)
  const [audited] = await state.xrevrange(KEYS.audit, "+", "-", "COUNT", 1);
  expect(audited?.[1]).toEqual(
    expect.arrayContaining([
      "kind",
      "rollback",
      "target",
      "production",
      "actor",
      "ann@example.com",
    ]),
  );
  expect(audited?.[1]).toContain(`back to ${previous}`);
  const [listed] = await state.xrevrange(KEYS.deploys, "+", "-", "COUNT", 1);
  expect(listed?.[1]).toEqual(
    expect.arrayContaining(["commit", previous, "branch", "master", "result", "rolled back"]),
  );
  expect((await gitops.read()).hosts.map((h) => h.release)).toEqual([previous, previous]);
  expect(told("post-rollback.env")).toMatchObject({
    DROPSHIP_COMMAND: "rollback",
    DROPSHIP_ROLE: "production",
    DROPSHIP_BRANCH: "master",
    DROPSHIP_VERSION: previous,
    DROPSHIP_HOSTS: "web-1,web-2",
  });

  // … where a push, bun run deploy and bun run restart are refused before anything moves
  const frozen =
    /deploys are frozen since \S+Z by [^:]+: “incident 42” — bun run freeze off lifts it \(rollbacks still go\)/;
  const pushed = git("push", "prod", `${live}:refs/heads/master`);
  expect(pushed.code).not.toBe(0);
  expect(pushed.output).toMatch(new RegExp(`remote: ✗ push rejected: ${frozen.source}`));
  expect(pushed.output).not.toContain("▸ gate");
  const refused = cli("scripts/deploy.ts", "master", live);
  expect(refused.code).toBe(1);
  expect(refused.output).toMatch(frozen);
  const [record] = await state.xrevrange(KEYS.deploys, "+", "-", "COUNT", 1);
  expect(record?.[1]).toEqual(expect.arrayContaining(["result", "frozen"]));
  const restart = cli("scripts/restart.ts");
  expect(restart.code).toBe(1);
  expect(restart.output).toMatch(new RegExp(`dropship restart: ${frozen.source}`));
  const status = cli("scripts/status.ts");
  expect(status.output).toMatch(
    /\nDEPLOYS frozen since \S+Z by [^:]+: “incident 42” — pushes, deploy, env, restart and upgrade are refused; rollback, scaling and healing go on\n/,
  );
  expect(status.output).toMatch(/master\s+\w{12}\s+\S+\s+frozen/);
  expect(serverBranch().slice(0, 12)).toBe(previous);
  for (const h of hosts) expect(await versionOn(h.droplet.ip as string)).toBe(previous);
  expect(cli("scripts/freeze.ts", "off").code).toBe(0);
  expect(told("pre-push.env")).toBeUndefined();

  // a pre_deploy hook that fails refuses the deploy after the gate, before any host changes
  writeFileSync(join(dir, "refuse"), "");
  const hooked = git("push", "prod", `${live}:refs/heads/master`);
  expect(hooked.code).not.toBe(0);
  expect(hooked.output).toMatch(/remote: ▸ pipeline\/hooks\/pre_deploy\s*\n/);
  expect(hooked.output).toContain("remote:     no deploys during the migration");
  expect(hooked.output).toMatch(
    /remote: ✗ push rejected: pipeline\/hooks\/pre_deploy failed \(exit 1\) after \d+\.\d s; it said: no deploys during the migration — no host was changed; fix what it checks \(or the hook\), then push again/,
  );
  const [refusal] = await state.xrevrange(KEYS.deploys, "+", "-", "COUNT", 1);
  expect(refusal?.[1]).toEqual(expect.arrayContaining(["result", "refused"]));
  expect(serverBranch().slice(0, 12)).toBe(previous);
  for (const h of hosts) expect(await versionOn(h.droplet.ip as string)).toBe(previous);
  rmSync(join(dir, "refuse"));

  // a staging rollback is a new canary for the release it puts back, as a push to staging is:
  // the record names what staging runs, and the abort of the one it left keeps no visitor out
  await startCanary(state, "left-behind", "bob", { weight: 30, steps: [] }, () => {});
  await changeCanary(state, { state: "aborted", reason: "staging 5xx 40% of 60" }, "test");
  await gitops.commit(
    {
      ...fleet,
      hosts: fleet.hosts.map((h) => (h.name === "web-2" ? { ...h, role: "staging" } : h)),
    },
    "web-2 is a staging host",
  );
  try {
    const staged = await runAsync(
      [process.execPath, join(ROOT, "scripts/rollback.ts"), "staging", live.slice(0, 12)],
      { env: { ...env, DROPSHIP_ACTOR: "cyd@example.com" } },
    );
    expect(staged.stdout).toContain(`↺ web-2: ${previous} → ${live.slice(0, 12)}`);
    expect(staged.stdout).toContain(`  canary ${live.slice(0, 12)} active: 30% of new visitors`);
    expect(staged.code).toBe(0);
    expect(await readCanary(state)).toMatchObject({
      generation: live.slice(0, 12),
      state: "active",
      weight: 30,
      reason: `staging rolled back to ${live.slice(0, 12)}`,
    });
    const [change] = await readAudit(state, { kind: "canary", limit: 1 });
    expect(change?.actor).toBe("cyd@example.com");
  } finally {
    await gitops.commit(fleet, "web-2 is a production host again");
  }

  const forward = cli("scripts/deploy.ts", "master", live);
  expect(forward.output).toContain(`✓ ${live.slice(0, 12)} is live on production`);
  expect(forward.output).toMatch(/ {2}pipeline\/hooks\/post_deploy: ok \(\d+\.\d s\)/);
  expect(forward.code).toBe(0);
  for (const h of hosts) expect(await versionOn(h.droplet.ip as string)).toBe(live.slice(0, 12));
  expect(serverBranch()).toBe(live);
  const deployEvent = {
    DROPSHIP_COMMAND: "deploy",
    DROPSHIP_ROLE: "production",
    DROPSHIP_BRANCH: "master",
    DROPSHIP_COMMIT: live,
    DROPSHIP_VERSION: live.slice(0, 12),
    DROPSHIP_HOSTS: "web-1,web-2",
  };
  expect(told("pre-deploy.env")).toMatchObject(deployEvent);
  expect(told("pre-deploy.env")?.DROPSHIP_RUNTIME).toBeUndefined();
  expect(told("post-deploy.env")).toMatchObject(deployEvent);
  expect(Number(told("post-deploy.env")?.DROPSHIP_RUNTIME)).toBeGreaterThan(0);
  // the deploy's facts, and none of the secrets of the command that ran it (its REDIS_URL)
  expect(Object.keys(told("post-deploy.env") ?? {})).not.toContain("REDIS_URL");
  expect(readFileSync(join(dir, "post-deploy.env"), "utf8")).not.toContain(redis.password);

  // bun run deploy of what is not there names it
  expect(cli("scripts/deploy.ts", "main").output).toContain(
    `dropship deploy: nothing was pushed to main yet in ${join(dir, "repos/app.git")} — push it, or name a COMMIT`,
  );
  expect(cli("scripts/deploy.ts", "master", "no-such-commit").output).toContain(
    `dropship deploy: no-such-commit is not a commit in ${join(dir, "repos/app.git")}`,
  );
  const nothing = cli("scripts/rollback.ts", "production", "no-such-release");
  expect(nothing.code).toBe(1);
  expect(nothing.output).toContain("web-1 does not have release no-such-release (it has ");
  expect(nothing.output).toContain(
    "and this control host does not keep it either — no host was changed",
  );
  // a host that cannot be reached stops it before any host is changed, not halfway (its key
  // pinned as any host's is: nothing answers at its address)
  const knownHosts = readFileSync(join(dir, "known_hosts"), "utf8");
  writeFileSync(
    join(dir, "known_hosts"),
    `${knownHosts}\n${hosts[0]?.knownHost.replace(/^\S+/, "127.0.0.9")}\n`,
  );
  await gitops.commit(
    addHost(fleet, {
      name: "web-9",
      role: "production",
      dropletId: 999,
      address: "127.0.0.9",
      region: "nyc3",
      size: "s-1vcpu-1gb",
      created: new Date().toISOString(),
    }),
    "web-9, whose droplet does not answer",
  );
  try {
    const split = cli("scripts/rollback.ts", "production");
    expect(split.code).toBe(1);
    expect(split.output).toContain("dropship rollback: cannot reach web-9 (");
    expect(split.output).toContain("— no host was changed, so the role is not left split");
    expect(split.output).not.toContain("↺");
    for (const h of hosts) expect(await versionOn(h.droplet.ip as string)).toBe(live.slice(0, 12));
  } finally {
    await gitops.commit(fleet, "web-9 gone");
    writeFileSync(join(dir, "known_hosts"), knownHosts);
  }
}, 180_000);

test("bun run env gives the app its settings, host by host under load; a converge keeps them; a host that fails puts all back, in every role; bun run restart", async () => {
  const env = { ...cliEnv, DROPSHIP_ACTOR: "ann@example.com" };
  const envCli = async (...args: string[]) => {
    const { code, stdout, stderr } = await runAsync(
      [process.execPath, join(ROOT, "scripts/env.ts"), ...args],
      { env },
    );
    return { code, output: stdout + stderr };
  };
  const [web1, web2] = hosts as [(typeof hosts)[0], (typeof hosts)[0]];
  const onHost = (h: typeof web1, command: string) =>
    withSsh(
      targetOf(
        { address: h.droplet.ip as string, hostPublicKey: h.hostKey.publicKey },
        { privateKey: account.privateKey },
      ),
      (ssh) => ssh.check(command),
    );
  const appPid = async (h: typeof web1) => (await onHost(h, mainPidOf("app"))).trim();
  /** What the running app was started with. */
  const appEnvironment = async (h: typeof web1) =>
    Object.fromEntries(
      (await onHost(h, `tr '\\0' '\\n' < /proc/${await appPid(h)}/environ`))
        .split("\n")
        .filter(Boolean)
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );
  const secret = "s3cr3t $value, with spaces";

  const load = steadyLoad();
  const set = await envCli("set", "GREETING_STYLE=warm", `API_TOKEN=${secret}`);
  const outcomes = await load.stop();
  expect(set.output).toContain("app settings: added API_TOKEN, GREETING_STYLE");
  expect(set.output).toMatch(/ {2}web-1: restarted with them, healthy on \w{12} \(/);
  expect(set.output).toContain("✓ every app host has them (restarted: web-1, web-2)");
  expect(set.output).not.toContain("s3cr3t");
  expect(set.code).toBe(0);
  expect(outcomes.length).toBeGreaterThan(100);
  expect(outcomes.filter((o) => o !== "ok")).toEqual([]);
  for (const h of hosts)
    expect(await appEnvironment(h)).toMatchObject({
      API_TOKEN: secret,
      GREETING_STYLE: "warm",
      PORT: "3000",
      DROPSHIP_TRACK: "production",
    });
  const listed = await envCli();
  expect(listed.output).toBe(
    "API_TOKEN  (set, 26 characters)\nGREETING_STYLE  (set, 4 characters)\n",
  );
  expect((await envCli("get", "API_TOKEN")).output).toBe(`${secret}\n`);
  // the same again: every host checked, none restarted
  const again = await envCli("set", "GREETING_STYLE=warm");
  expect(again.output).toContain("app settings: unchanged (");
  expect(again.output).toContain("  web-1: has them already\n  web-2: has them already\n");
  expect(again.output).toContain("✓ every app host has them, none needed a restart");
  const audit = await state.xrevrange(KEYS.audit, "+", "-", "COUNT", 5);
  expect(JSON.stringify(audit)).toContain('"env","target","app","actor","ann@example.com"');
  expect(JSON.stringify(audit)).toContain("added API_TOKEN, GREETING_STYLE");
  expect(JSON.stringify(audit)).not.toContain("s3cr3t");

  // a converge with the same settings, as setup's or a new host's: the file Ansible writes is
  // the one bun run env wrote, so nothing is restarted
  const pids = await Promise.all(hosts.map(appPid));
  await runPlaybook("product.yml", inventory, {
    REDIS_URL: appRedisUrl,
    ...appSettingsVariable(join(dir, ".dropship/app.env")),
  });
  expect(await Promise.all(hosts.map(appPid))).toEqual(pids);
  expect((await appEnvironment(web2)).API_TOKEN).toBe(secret);

  /** `work` while web-2's app cannot start; then it is started again and back in rotation. */
  const whileWeb2CannotStart = async (work: () => Promise<void>) => {
    await onHost(web2, "chmod -x /srv/dropship/current/dropship-app");
    try {
      await work();
    } finally {
      await onHost(
        web2,
        `chmod +x /srv/dropship/current/dropship-app && ${hostCommands.service("restart", "app")}`,
      );
      await addBackend(state, "production", `http://${web2.droplet.ip}:3000`);
    }
  };

  // web-2 cannot restart: web-1, already changed, goes back to the old settings too
  await whileWeb2CannotStart(async () => {
    const failed = await envCli("unset", "API_TOKEN");
    expect(failed.output).toMatch(/ {2}web-1: restarted with them/);
    expect(failed.output).toContain("✗ web-2: ");
    expect(failed.output).toContain("↺ web-1: back on its old settings");
    expect(failed.output).toContain("web-2 did not come up with the new settings (");
    // said as systemd saw it, not as a health timeout waited out
    expect(failed.output).toMatch(
      /web-2 did not come up with the new settings \([^)]*dropship-app keeps exiting \(code=exited, status=203\/EXEC; restarted \d+ times\): [^)]*Permission denied/,
    );
    expect(failed.output).toContain("✗ web-2: putting its old settings back failed too: ");
    expect(failed.output).toContain(
      "; web-1 has its old ones again; web-2 could not be put back and is out of the rotation — look at it by hand; ",
    );
    expect(failed.output).toContain("keeps the old settings too");
    expect(failed.code).toBe(1);
    expect((await appEnvironment(web1)).API_TOKEN).toBe(secret);
    expect(readFileSync(join(dir, ".dropship/app.env"), "utf8")).toContain("API_TOKEN=");
  });

  // web-2 a staging host for a while, and it cannot restart: production went first and has the
  // new settings by then, so every role is given the old ones again
  await gitops.commit(
    {
      ...fleet,
      hosts: fleet.hosts.map((h) => (h.name === "web-2" ? { ...h, role: "staging" } : h)),
    },
    "web-2 is a staging host",
  );
  try {
    await whileWeb2CannotStart(async () => {
      const failed = await envCli("unset", "API_TOKEN");
      expect(failed.output).toMatch(/▸ production: web-1\n {2}web-1: restarted with them, /);
      expect(failed.output).toContain("▸ staging: web-2\n✗ web-2: ");
      expect(failed.output).toContain("✗ web-2: putting its old settings back failed too: ");
      expect(failed.output).toMatch(
        /↺ the old settings again, on every host:\n▸ production: web-1\n {2}web-1: restarted with them, healthy on \w{12} [^\n]*\n▸ staging: web-2\n {2}web-2: has them already\n/,
      );
      expect(failed.output).toContain("web-2 did not come up with the new settings (");
      expect(failed.output).toContain(
        "; web-2 could not be put back and is out of the rotation — look at it by hand; ",
      );
      expect(failed.output).toContain("keeps the old settings too");
      expect(failed.code).toBe(1);
      expect((await appEnvironment(web1)).API_TOKEN).toBe(secret);
      // web-2's app is down (it cannot start), its old settings in place for when it does
      expect(await onHost(web2, `cat ${APP_ENV_ON_HOST}`)).toContain("API_TOKEN=");
    });
  } finally {
    await gitops.commit(fleet, "web-2 is a production host again");
  }
  const unset = await envCli("unset", "API_TOKEN");
  expect(unset.code).toBe(0);
  for (const h of hosts) {
    const running = await appEnvironment(h);
    expect(running.API_TOKEN).toBeUndefined();
    expect(running.GREETING_STYLE).toBe("warm");
  }

  // bun run restart: the same rolling restart with nothing changed, each app a new process
  const before = await Promise.all(hosts.map(appPid));
  const { code, stdout } = await runAsync(
    [process.execPath, join(ROOT, "scripts/restart.ts"), "production"],
    { env },
  );
  expect(stdout).toMatch(/ {2}web-1: restarted, healthy on \w{12} \(/);
  expect(stdout).toContain("✓ restarted web-1, web-2, one at a time");
  expect(code).toBe(0);
  const after = await Promise.all(hosts.map(appPid));
  expect(after.filter((pid, i) => pid === before[i])).toEqual([]);
  expect((await appEnvironment(web1)).GREETING_STYLE).toBe("warm");
}, 300_000);

test("a push to main deploys production too (pipeline.branches); another branch is only stored", async () => {
  commitBadChange("README.md", "# dropship", "# dropship, pushed on main", "a change on main");
  const push = git("push", "prod", "HEAD:main");
  expect(push.output).toContain(
    `remote: dropship: main ${head().slice(0, 12)} by ann → production`,
  );
  expect(push.output).toMatch(/remote: ✓ \w{12} is live on production/);
  expect(push.code).toBe(0);
  for (const h of hosts) expect(await versionOn(h.droplet.ip as string)).toBe(head().slice(0, 12));
  // the same commit to master: it passed this gate on main, so its build is promoted as it is
  const again = git("push", "prod", "HEAD:master");
  expect(again.output).toMatch(
    new RegExp(
      `remote: ▸ gate: ${head().slice(0, 12)} passed it at \\S+Z with this test \\(bun test tests/server/app/requests\\.test\\.ts\\); its build is used as it is`,
    ),
  );
  expect(again.output).not.toContain("▸ sandbox");
  expect(again.output).not.toContain("▸ test");
  expect(again.output).toMatch(/remote: ✓ \w{12} is live on production/);
  expect(again.code).toBe(0);
  // master has this commit now: the next tests build on it, as they would on master
  undo = undefined;
  const kept = join(dir, "work", "releases", head().slice(0, 12));
  const passed = JSON.parse(readFileSync(join(kept, "PASSED"), "utf8")) as {
    tests: { command: string }[];
    files: Record<string, string>;
  };
  expect(passed.tests.map((t) => t.command)).toEqual([
    "bun test tests/server/app/requests.test.ts",
  ]);
  expect(Object.keys(passed.files)).toContain("dropship-app");
  const feature = git("push", "prod", "HEAD:feature/x");
  expect(feature.output).toContain(
    "remote: refs/heads/feature/x: stored, not deployed (only master, main and staging deploy)",
  );
  expect(feature.code).toBe(0);
  // only the app's repository deploys: master pushed to another one is stored
  const other = git(
    "push",
    `http://ann:${ANN_TOKEN}@127.0.0.1:${receiver.port}/other.git`,
    "HEAD:master",
  );
  expect(other.output).toContain("remote: other.git: stored, not deployed (only app.git deploys)");
  expect(other.code).toBe(0);
}, 120_000);

test("a config broken while the receiver runs rejects the push with a sentence, not a stack", () => {
  const file = join(dir, "dropship.yml");
  const good = readFileSync(file, "utf8");
  writeFileSync(file, `${good}pipeline: { test: [unclosed\n`);
  try {
    const before = serverBranch();
    commitBadChange("README.md", "# dropship", "# dropship, under a broken config", "any change");
    const push = git("push", "prod", "HEAD:master");
    expect(push.code).not.toBe(0);
    expect(push.output).toContain(
      "remote: ✗ push rejected: the receiver's config does not validate, so nothing was tested or deployed:",
    );
    expect(push.output).toMatch(/remote: .*dropship\.yml: 1 problem/);
    expect(push.output).toMatch(/remote: {3}line \d+, column \d+: is not valid YAML/);
    expect(push.output).not.toContain("    at ");
    expect(serverBranch()).toBe(before);
  } finally {
    writeFileSync(file, good);
  }
});

test("the receiver serves clones too, and refuses a tree without a lock file", () => {
  const copy = join(dir, "copy");
  const cloned = Bun.spawnSync(
    ["git", "clone", "-q", `http://ann:${ANN_TOKEN}@127.0.0.1:${receiver.port}/app.git`, copy],
    { stderr: "pipe" },
  );
  expect(cloned.exitCode).toBe(0);
  expect(Bun.spawnSync(["git", "-C", copy, "rev-parse", "HEAD"]).stdout.toString().trim()).toBe(
    serverBranch(),
  );

  const before = serverBranch();
  git("rm", "-q", "package-lock.json");
  git("commit", "-qm", "no lock file");
  undo = () => git("reset", "-q", "--hard", "HEAD~1");
  const push = git("push", "prod", "HEAD:master");
  expect(push.code).not.toBe(0);
  expect(push.output).toContain(
    "remote: ✗ push rejected: install: the pushed tree has no package.json with a lock file",
  );
  expect(serverBranch()).toBe(before);
});

test("bun run jobs runs a job now on a host of its role, as the app's user with its settings; the schedule runs jobs and mails once when one fails", async () => {
  const file = join(dir, "dropship.yml");
  const good = readFileSync(file, "utf8");
  const jobs = [
    {
      name: "whoami",
      // due at times of the test's own clock below; the receiver running beside on the real
      // clock would run it too, and overwrite ann's run, were it due within the test
      schedule: "0,5 0 29 2 *",
      // and in the app's sandbox: no new privileges, a system-call filter, nothing to write
      command: `printf 'user=%s release=%s style=%s job=%s sandbox=%s wrote=%s redis=%s\\n' "$(id -un)" "$(basename "$(pwd -P)")" "$GREETING_STYLE" "$DROPSHIP_JOB" "$(grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\\t\\n')" "$(touch /srv/dropship/logs/job-probe 2>/dev/null && echo yes || echo no)" "$REDIS_URL"; cat /srv/dropship/shared/app.env > /dev/null 2>&1 || echo settings file closed to it; echo to stderr >&2; exit 4`,
    },
    // what it started goes with it, a process that left its session too
    {
      name: "sleepy",
      schedule: "@daily",
      timeout: "1s",
      command: "setsid sleep 32 & sleep 30 & sleep 31",
    },
  ];
  writeFileSync(file, `${good}jobs: ${JSON.stringify(jobs)}\n`);
  const env = { ...cliEnv, DROPSHIP_ACTOR: "ann@example.com" };
  const jobsCli = (...args: string[]) =>
    runAsync([process.execPath, join(ROOT, "scripts/jobs.ts"), ...args], { env });
  const release = serverBranch().slice(0, 12);
  const onHost = (name: string, command: string) => {
    const h = hosts.find((x) => x.name === name) as (typeof hosts)[0];
    return withSsh(
      targetOf(
        { address: h.droplet.ip as string, hostPublicKey: h.hostKey.publicKey },
        { privateKey: account.privateKey },
      ),
      (ssh) => ssh.exec(command),
    );
  };
  try {
    const ran = await jobsCli("run", "whoami");
    const where = /✗ whoami on (web-\d) \((\w{12})\): failed after [\d.]+ s, exit 4\n$/.exec(
      ran.stderr,
    );
    expect({ code: ran.code, stderr: ran.stderr }).toMatchObject({ code: 4 });
    expect(where?.[2]).toBe(release);
    const ranOn = where?.[1] as string;
    expect(ran.stdout).toContain(
      `user=dropship release=${release} style=warm job=whoami sandbox=NoNewPrivs:1Seccomp:2 wrote=no redis=redis://`,
    );
    // it was given the settings, and cannot read their file (root's) itself
    expect(ran.stdout).toContain("settings file closed to it\n");
    expect(ran.stdout).toContain("to stderr\n");
    expect(ran.stdout + ran.stderr).not.toContain(redis.password);
    // audited as exec is: on the host, and in the stream as the person
    expect((await onHost(ranOn, "cat /srv/dropship/audit.log")).stdout).toContain(
      " job by ann@example.com: job whoami: printf ",
    );
    const [entry] = await state.xrevrange(KEYS.audit, "+", "-", "COUNT", 1);
    expect(JSON.stringify(entry)).toContain(
      '"kind","job","target","whoami","actor","ann@example.com"',
    );
    // another host by name
    const other = ranOn === "web-1" ? "web-2" : "web-1";
    const there = await jobsCli("run", "whoami", "--host", other);
    expect(there.stderr).toContain(`✗ whoami on ${other} (${release}): failed after`);
    expect(there.code).toBe(4);
    // a run past its timeout is stopped with everything it started
    const sleepy = await jobsCli("run", "sleepy");
    expect(sleepy.stderr).toMatch(
      /✗ sleepy on web-\d \(\w{12}\): failed after [\d.]+ s, still running after 1s \(its timeout\), so it was stopped\n$/,
    );
    expect(sleepy.code).toBe(124);
    const sleptOn = /sleepy on (web-\d)/.exec(sleepy.stderr)?.[1] as string;
    expect((await onHost(sleptOn, "pgrep -u dropship -x sleep")).code).toBe(1);
    // what each did last
    const listed = await jobsCli();
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^NAME +ROLE +SCHEDULE +NEXT \(UTC\) +LAST\n/);
    expect(listed.stdout).toMatch(
      new RegExp(
        `\\nwhoami +production +0,5 0 29 2 \\* +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d[05] +on ${other} \\(${release}\\): failed after [\\d.]+ s, exit 4, just now by ann@example.com\\n`,
      ),
    );
    expect(listed.stdout).toMatch(/\nsleepy +production +@daily +\d{4}-\d\d-\d\d 00:00 +on web-\d/);
    const unknown = await jobsCli("run", "nope");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toEndWith(
      "\ndropship jobs: no job nope; the config's jobs are whoami, sleepy\n",
    );

    // the receiver's schedule, with the runner it uses: the first host its order picks does not
    // answer, so the next one runs it; one mail, with its last lines
    const smtp = await startSmtp();
    const mailer = new Mailer({
      smtpUrl: smtp.url,
      from: "dropship <d@push>",
      to: "ops@example.com",
      log: () => {},
    });
    const fleetNow = readFleet(inventory);
    const whoami = loadConfigOrDefaults(file).jobs[0] as Job;
    const refused = jobHosts(whoami, fleetNow.hosts)[0]?.name;
    let clock = Date.parse("2028-02-28T23:59:30Z");
    const said: string[] = [];
    /** The receiver's schedule of whoami on a clock of the test's, with the runner it uses. */
    const scheduleWith = (connect?: (h: FleetHost) => Promise<Ssh>) =>
      startJobSchedule(
        {
          jobs: [whoami],
          run: (job) =>
            runJob({
              fleet: fleetNow,
              job,
              by: "dropship-receiver (schedule)",
              clean: jobOutputCleaner(env),
              ...(connect ? { connect } : {}),
            }),
          lastRuns: () => lastRuns(state),
          save: (run) => saveRun(state, run),
          site: "push",
          say: (line) => said.push(line),
          notify: (mail) => mailer.send(mail),
          now: () => clock,
        },
        3_600_000,
      );
    const schedule = scheduleWith((h) =>
      h.name === refused
        ? Promise.reject(new Error("connect ECONNREFUSED"))
        : Ssh.connect(targetOf(h, fleetNow)),
    );
    // its last run (by ann) failed: the schedule's failing run is not news
    clock = Date.parse("2028-02-29T00:00:00.5Z");
    schedule.tick();
    await schedule.stop();
    await mailer.idle();
    expect(said.at(-1)).toMatch(
      new RegExp(
        `^job whoami on (?!${refused})web-\\d \\(${release}\\): failed after [\\d.]+ s, exit 4$`,
      ),
    );
    expect(smtp.mails).toEqual([]);
    const last = (await lastRuns(state)).get("whoami");
    expect(last).toMatchObject({ by: "dropship-receiver (schedule)", code: 4 });
    // its three lines (stdout's and stderr's may come in either order)
    expect(last?.tail).toHaveLength(3);
    expect(last?.tail).toEqual(
      expect.arrayContaining([
        expect.stringContaining("user=dropship"),
        "settings file closed to it",
        "to stderr",
      ]),
    );
    // once it worked, the next failure is mailed
    const worked: JobRun = { ...(last as JobRun), code: 0 };
    delete worked.fault;
    await saveRun(state, worked);
    const again = scheduleWith();
    clock = Date.parse("2028-02-29T00:05:00.5Z");
    again.tick();
    await again.stop();
    const [mail] = await smtp.waitFor(1, 10_000);
    expect(mail?.subject).toBe("[push] job whoami failed");
    expect(mail?.text).toContain("failed after");
    expect(mail?.text).toContain("  user=dropship release=");
    expect(mail?.text).not.toContain(redis.password);
    mailer.close();
  } finally {
    writeFileSync(file, good);
  }
}, 120_000);
