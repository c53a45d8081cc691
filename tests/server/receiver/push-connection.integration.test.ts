import { expect, test } from "bun:test";
import { join } from "node:path";
import { roleLockHeld } from "../../../pipeline/lock.ts";
import { git, pushableApp, startReceiver } from "../../helpers/receiver.ts";
import { eventually } from "../../helpers/server.ts";

// The push's own connection: a pusher whose connection drops while the gate runs (a laptop's
// Wi-Fi, a Ctrl-C), and a gate silent for longer than the receiver keeps an idle connection.
const TOKEN = "push-connection-token-0123";
// a test that writes far more than a pipe holds once nobody reads the push's answer
const { receiver, dir } = await startReceiver(
  `pipeline:\n  repos: [app]\n  test: { master: "echo testing; sleep 4; head -c 400000 /dev/zero | tr '\\\\0' y | fold -w 100; echo tested" }\n`,
  TOKEN,
);
// a test silent for 7 s, where an idle connection is kept 2 s
const quiet = await startReceiver(
  'pipeline:\n  repos: [app]\n  test: { master: "echo quiet now; sleep 7; echo spoke" }\n',
  TOKEN,
  { DROPSHIP_RECEIVER_IDLE_TIMEOUT: "2" },
);

const { app, commit } = pushableApp(dir);

test("a push whose pusher goes away during the gate goes on: the branch moves and the lock is let go", async () => {
  const push = Bun.spawn(
    ["git", "push", `http://ann:${TOKEN}@127.0.0.1:${receiver.port}/app.git`, "HEAD:master"],
    // a group of its own: git push runs git-remote-http, which holds the connection
    { cwd: app, stdout: "pipe", stderr: "pipe", detached: true },
  );
  let said = "";
  void (async () => {
    for await (const chunk of push.stderr) said += new TextDecoder().decode(chunk);
  })();
  await eventually(async () => said.includes("remote:     testing"), 15_000, "the test step");
  process.kill(-push.pid, "SIGKILL");
  await push.exited;
  const repo = join(dir, "repos", "app.git");
  await eventually(
    async () => git(repo, "rev-parse", "--verify", "-q", "refs/heads/master") === commit,
    20_000,
    "master to move to the pushed commit",
  );
  expect(roleLockHeld(join(dir, "work", "locks"), "production")).toBe(false);
  // what the pusher saw ends where they left
  expect(said.includes("passed the gate")).toBe(false);
}, 40_000);

test("a gate silent for longer than the idle timeout keeps its pusher: the push's request is never cut", () => {
  const push = Bun.spawnSync(
    ["git", "push", `http://ann:${TOKEN}@127.0.0.1:${quiet.receiver.port}/app.git`, "HEAD:master"],
    { cwd: app, stderr: "pipe", timeout: 30_000 },
  );
  const said = push.stderr.toString();
  expect(said).toContain("remote:     spoke");
  expect(said).toContain("passed the gate");
  expect(push.exitCode).toBe(0);
}, 40_000);
