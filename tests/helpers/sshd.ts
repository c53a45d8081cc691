import { afterAll } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SshTarget } from "../../server/shared/ssh.ts";
import { freePort } from "./ports.ts";
import { track, waitForLine } from "./processes.ts";
import { fileTempDir } from "./tmp.ts";

/**
 * A real sshd (the machine's, as root) on a loopback port, taking root's login by a key made
 * here only: a host for the SSH module's tests that needs no droplet. Stopped after the file.
 */
export async function startSshd(): Promise<SshTarget> {
  const dir = fileTempDir("sshd-");
  for (const key of ["host_key", "client_key"]) {
    const made = Bun.spawnSync([
      "ssh-keygen",
      "-q",
      "-t",
      "ed25519",
      "-N",
      "",
      "-f",
      join(dir, key),
    ]);
    if (made.exitCode !== 0) throw new Error(`ssh-keygen: ${made.stderr.toString()}`);
  }
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "client_key.pub")), {
    mode: 0o600,
  });
  // its privilege separation directory, which only a running sshd service would have made
  mkdirSync("/run/sshd", { recursive: true });
  // a port found free may be taken before sshd binds it (four lanes run at once): another then
  for (let attempt = 1; ; attempt++) {
    const port = freePort();
    writeFileSync(
      join(dir, "sshd_config"),
      [
        "ListenAddress 127.0.0.1",
        `Port ${port}`,
        `HostKey ${join(dir, "host_key")}`,
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        // the keys' folder is under /tmp, which is everyone's
        "StrictModes no",
        `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
        `PidFile ${join(dir, "sshd.pid")}`,
        "",
      ].join("\n"),
    );
    const sshd = track(
      Bun.spawn(["/usr/sbin/sshd", "-D", "-e", "-f", join(dir, "sshd_config")], {
        stdout: "ignore",
        stderr: "pipe",
      }),
    );
    try {
      await waitForLine(sshd.stderr, /Server listening on/, 10_000, "sshd");
    } catch (error) {
      sshd.kill("SIGKILL");
      if (attempt < 3 && /Address already in use|Cannot bind/.test(String(error))) continue;
      throw error;
    }
    afterAll(() => {
      sshd.kill("SIGTERM");
    });
    return {
      host: "127.0.0.1",
      port,
      privateKey: readFileSync(join(dir, "client_key"), "utf8"),
      keyFile: join(dir, "client_key"),
      hostPublicKey: readFileSync(join(dir, "host_key.pub"), "utf8").trim(),
    };
  }
}
