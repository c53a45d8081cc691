import { expect, test } from "bun:test";
import { PassThrough, Writable } from "node:stream";
import { Ssh, withSsh } from "../../../server/shared/ssh.ts";
import { eventually } from "../../helpers/server.ts";
import { startSshd } from "../../helpers/sshd.ts";

// The SSH module against a real sshd on loopback (the emulator's droplets run the same one).
const target = await startSshd();
const SIZE = { term: "xterm-256color", rows: 40, cols: 100 };

/** What a terminal shows, as it comes. */
function screen() {
  let text = "";
  const output = new Writable({
    write(chunk, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return {
    output,
    text: () => text,
    shows: (pattern: RegExp) => eventually(async () => pattern.test(text), 10_000, `${pattern}`),
  };
}

test("a command on a terminal: a tty of the size given, what is typed reaches it, its errors on the screen, its exit code back", async () => {
  await withSsh(target, async (ssh) => {
    const keys = new PassThrough();
    const seen = screen();
    const running = await ssh.terminal(
      "tty; stty size; echo term=$TERM; echo oops >&2; read line; echo got:$line; exit 3",
      SIZE,
      keys,
      seen.output,
    );
    await seen.shows(/oops/);
    keys.write("hello\n");
    expect(await running.exited).toBe(3);
    const text = seen.text();
    expect(text).toMatch(/^\/dev\/pts\/\d+\r$/m);
    expect(text).toContain("40 100\r\n");
    expect(text).toContain("term=xterm-256color\r\n");
    expect(text).toContain("got:hello\r\n");
  });
});

test("the terminal on the host follows the local one's size", async () => {
  await withSsh(target, async (ssh) => {
    const keys = new PassThrough();
    const seen = screen();
    const running = await ssh.terminal("read go; stty size", SIZE, keys, seen.output);
    running.resize({ rows: 50, cols: 132 });
    keys.write("\n");
    expect(await running.exited).toBe(0);
    expect(seen.text()).toContain("50 132\r\n");
    expect(seen.text()).not.toContain("40 100");
  });
});

test("no command: the login shell, on a terminal, until it exits", async () => {
  await withSsh(target, async (ssh) => {
    const keys = new PassThrough();
    const seen = screen();
    const running = await ssh.terminal(undefined, SIZE, keys, seen.output);
    keys.write("echo login=$0 answer=$((6*7)); exit 5\n");
    expect(await running.exited).toBe(5);
    // the answer as the shell printed it, not as the terminal echoed what was typed
    expect(seen.text()).toMatch(/login=-\w+ answer=42\r\n/);
  });
});

test("a host whose key is not the pinned one gets no terminal: the connection is refused", async () => {
  const other = (await Bun.file(`${target.keyFile}.pub`).text()).trim();
  await expect(Ssh.connect({ ...target, hostPublicKey: other })).rejects.toThrow(
    "root@127.0.0.1: the host key is not the pinned one",
  );
});
