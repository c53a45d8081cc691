import { expect, test } from "bun:test";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isAlive } from "../../../server/shared/proc.ts";
import { git, pushableApp, startReceiver } from "../../helpers/receiver.ts";
import { eventually } from "../../helpers/server.ts";

// A push is written to the control host's disk as it arrives: pipeline/push_limit bounds it.
const TOKEN = "push-limit-token-0123";
const { receiver, dir } = await startReceiver(
  'pipeline:\n  repos: [app]\n  push_limit: 1\n  test: { master: "true" }\n',
  TOKEN,
);
const { app, commit } = pushableApp(dir);
const repo = join(dir, "repos", "app.git");
const remote = `http://ann:${TOKEN}@127.0.0.1:${receiver.port}/app.git`;

/** 3 MiB that no compression shrinks, committed on a branch of its own from `commit`. */
function bigCommit(branch: string): string {
  git(app, "checkout", "-q", "-b", branch, commit);
  writeFileSync(join(app, "blob.bin"), crypto.getRandomValues(new Uint8Array(3 * 1024 * 1024)));
  git(app, "add", "blob.bin");
  git(app, "commit", "-q", "-m", branch);
  return git(app, "rev-parse", "HEAD");
}

test("a push bigger than pipeline/push_limit is refused as it arrives, and nothing of it is kept", () => {
  const big = bigCommit("big");
  const blob = git(app, "rev-parse", `${big}:blob.bin`);

  const push = Bun.spawnSync(["git", "push", remote, "big:master"], {
    cwd: app,
    stderr: "pipe",
    timeout: 30_000,
  });
  const said = push.stderr.toString();
  expect(push.exitCode).not.toBe(0);
  expect(said).toContain("pack exceeds maximum allowed size");
  // no branch, no object, no quarantine left behind; the gate never ran
  expect(git(repo, "rev-parse", "--verify", "-q", "refs/heads/master")).toBe("");
  expect(Bun.spawnSync(["git", "cat-file", "-e", blob], { cwd: repo }).exitCode).not.toBe(0);
  expect(Bun.spawnSync(["git", "cat-file", "-e", big], { cwd: repo }).exitCode).not.toBe(0);
  expect(readdirSync(join(repo, "objects")).filter((d) => d.startsWith("tmp_"))).toEqual([]);
  expect(said).not.toContain("▸ sandbox");
}, 40_000);

test("a push within the limit goes through as before", () => {
  const push = Bun.spawnSync(["git", "push", remote, `${commit}:refs/heads/master`], {
    cwd: app,
    stderr: "pipe",
    timeout: 30_000,
  });
  expect(push.stderr.toString()).toContain("passed the gate");
  expect(push.exitCode).toBe(0);
  expect(git(repo, "rev-parse", "refs/heads/master")).toBe(commit);
}, 40_000);

test("a push git stops reading half way does not take the receiver down", async () => {
  // the big push again, on a raw socket, in pieces bigger than a pipe holds: git gives up at
  // the limit and answers while pieces are still on their way to it (one written in part
  // when git exited once stopped the receiver: CI saw the next push refused; before the fix
  // this test failed in most runs here, not all: it depends on where git is when it stops)
  const big = bigCommit("bigger");
  const pack = Bun.spawnSync(["git", "pack-objects", "--revs", "--stdout", "-q"], {
    cwd: app,
    stdin: new TextEncoder().encode(`${big}\n^${commit}\n`),
  }).stdout;
  const line = `${"0".repeat(40)} ${big} refs/heads/other\0report-status\n`;
  const commands = `${(line.length + 4).toString(16).padStart(4, "0")}${line}0000`;
  const body = Buffer.concat([Buffer.from(commands), pack]);
  let answer = "";
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port: receiver.port,
    socket: {
      data(_socket, data) {
        answer += data.toString("latin1");
      },
      error() {},
    },
  });
  socket.write(
    `POST /app.git/git-receive-pack HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic ${btoa(`ann:${TOKEN}`)}\r\nContent-Type: application/x-git-receive-pack-request\r\nContent-Length: ${body.length}\r\n\r\n`,
  );
  // what the socket does not take at once is written again: it keeps no backlog of its own
  for (let rest = body.subarray(); rest.length > 0; await Bun.sleep(5))
    rest = rest.subarray(Math.max(0, socket.write(rest.subarray(0, 256 * 1024))));
  await eventually(async () => answer.includes("unpack"), 10_000, "git's answer");
  socket.end();
  await Bun.sleep(500);
  expect(answer).toContain("unpack unpack-objects abnormal exit");
  expect(receiver.stderr()).not.toContain("EPIPE");
  expect(isAlive(receiver.pid)).toBe(true);
  const refs = Bun.spawnSync(["git", "ls-remote", remote], { stderr: "pipe", timeout: 10_000 });
  expect(refs.stderr.toString()).toBe("");
  expect(refs.exitCode).toBe(0);
  expect(git(repo, "rev-parse", "--verify", "-q", "refs/heads/other")).toBe("");
}, 40_000);
