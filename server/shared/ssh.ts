import { Client, type ConnectConfig } from "ssh2";

export interface SshTarget {
  host: string;
  port?: number;
  user?: string;
  privateKey: string;
  /** the host's public key (`ssh-ed25519 AAAA…`): any other key is refused */
  hostPublicKey: string;
  timeoutMs?: number;
}

export class SshError extends Error {
  override name = "SshError";
}

/** One SSH connection to a host whose key is pinned; never trusts a key on first use. */
export class Ssh {
  private constructor(
    private readonly client: Client,
    readonly target: SshTarget,
  ) {}

  static connect(target: SshTarget): Promise<Ssh> {
    const pinned = Buffer.from(target.hostPublicKey.trim().split(/\s+/)[1] ?? "", "base64");
    return new Promise((resolve, reject) => {
      const client = new Client();
      let refusedKey = false;
      const config: ConnectConfig = {
        host: target.host,
        port: target.port ?? 22,
        username: target.user ?? "root",
        privateKey: target.privateKey,
        readyTimeout: target.timeoutMs ?? 10_000,
        hostVerifier: (key: Buffer) => {
          refusedKey = !key.equals(pinned);
          return !refusedKey;
        },
      };
      client
        .once("ready", () => resolve(new Ssh(client, target)))
        .once("error", (error) => {
          const where = `${config.username}@${target.host}`;
          reject(
            new SshError(
              refusedKey
                ? `${where}: the host key is not the pinned one — refusing to connect (a new droplet at an old address? check known_hosts)`
                : `${where}: ${error.message}`,
            ),
          );
        })
        .connect(config);
    });
  }

  /** Runs a command; answers its exit code and output. */
  exec(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      this.client.exec(command, (error, stream) => {
        if (error)
          return reject(
            new SshError(
              `${this.target.host}: cannot run ${command.split(" ")[0]}: ${error.message}`,
            ),
          );
        let stdout = "";
        let stderr = "";
        stream.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
        stream.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        stream.on("close", (code: number | null) => resolve({ code: code ?? -1, stdout, stderr }));
      });
    });
  }

  /** Runs a command that must succeed; throws naming the host and the command otherwise. */
  async check(command: string): Promise<string> {
    const result = await this.exec(command);
    if (result.code !== 0) {
      throw new SshError(
        `${this.target.host}: \`${command}\` failed (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`,
      );
    }
    return result.stdout;
  }

  /** Copies a local file to the host over SFTP. */
  put(localPath: string, remotePath: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.sftp((error, sftp) => {
        if (error) return reject(new SshError(`${this.target.host}: no SFTP: ${error.message}`));
        sftp.fastPut(localPath, remotePath, (putError) => {
          sftp.end();
          if (putError)
            reject(
              new SshError(
                `${this.target.host}: copying to ${remotePath} failed: ${putError.message}`,
              ),
            );
          else resolve();
        });
      });
    });
  }

  close(): void {
    this.client.end();
  }
}
