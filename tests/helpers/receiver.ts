import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type RunningServer, startServer } from "./server.ts";
import { fileTempDir } from "./tmp.ts";

/**
 * A receiver of its own (server/receiver/main.ts) with `config` as its dropship.yml and
 * `token` as the admin token, its repositories and workspaces in a folder of its own; no
 * fleet, so a push that passes the gate is stored, not deployed. Stopped after the file.
 */
export async function startReceiver(
  config: string,
  token: string,
  env: Record<string, string> = {},
): Promise<{ receiver: RunningServer; dir: string }> {
  const dir = fileTempDir();
  writeFileSync(join(dir, "dropship.yml"), config);
  const receiver = await startServer("receiver", {
    DROPSHIP_ADMIN_TOKEN: token,
    DROPSHIP_REPOS: join(dir, "repos"),
    DROPSHIP_WORK: join(dir, "work"),
    DROPSHIP_GITOPS_REPO: join(dir, "inventory"),
    DROPSHIP_CONFIG: join(dir, "dropship.yml"),
    ...env,
  });
  return { receiver, dir };
}
