import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { freePort, startDaemon, waitForHttp } from "./processes.ts";

const ROOT = resolve(import.meta.dir, "../..");

/**
 * The DigitalOcean emulator as a daemon on a free port with a throwaway token, once it answers
 * an authenticated call; on failure the error carries the last lines of its log.
 */
export async function startEmulatorDaemon(
  stateDir: string,
  logFile: string,
  record: (pid: number) => void,
): Promise<{ token: string; apiUrl: string }> {
  const token = `dop_v1_${crypto.randomUUID().replaceAll("-", "")}`;
  const port = freePort();
  const apiUrl = `http://127.0.0.1:${port}/v2`;
  record(
    startDaemon(
      [process.execPath, join(ROOT, "server/emulator/main.ts"), "--port", String(port)],
      { DIGITALOCEAN_TOKEN: token, DROPSHIP_EMULATOR_DIR: stateDir },
      logFile,
    ),
  );
  try {
    await waitForHttp(`${apiUrl}/account/keys`, 15_000, "the emulator", {
      authorization: `Bearer ${token}`,
    });
  } catch (error) {
    const log = existsSync(logFile)
      ? readFileSync(logFile, "utf8").trim().split("\n").slice(-3).join("\n")
      : "";
    throw new Error(`${(error as Error).message}\n${log}`.trim());
  }
  return { token, apiUrl };
}
