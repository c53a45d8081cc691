import { afterAll } from "bun:test";
import { join } from "node:path";
import { pebbleRoot, preparePebble, untilPebbleAnswers } from "../../scripts/lib/pebble.ts";
import { track } from "./processes.ts";
import { fileTempDir } from "./tmp.ts";

export interface Pebble {
  /** the ACME directory URL */
  directory: string;
  /** PEM that pebble's own HTTPS listener is signed with (what an ACME client must trust) */
  listenerCaFile: string;
  /** PEM of the root that issued certificates chain to */
  root(): Promise<string>;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** Let's Encrypt's test CA as this test file's own process (scripts/lib/pebble.ts). */
export async function startPebble(options: {
  httpPort: number;
  dnsServer: string;
  validitySeconds?: number;
  blocklist?: string[];
}): Promise<Pebble> {
  const dir = fileTempDir("pebble-");
  const setup = preparePebble(dir, options);
  let child: ReturnType<typeof Bun.spawn> | undefined;
  const start = async () => {
    child = track(
      Bun.spawn(setup.argv, {
        env: { ...process.env, ...setup.env },
        stdout: Bun.file(join(dir, "pebble.log")),
        stderr: Bun.file(join(dir, "pebble.log")),
      }),
    );
    await untilPebbleAnswers(setup);
  };
  const stop = async () => {
    child?.kill("SIGTERM");
    await child?.exited;
    child = undefined;
  };
  await start();
  afterAll(stop);
  return {
    directory: setup.directory,
    listenerCaFile: setup.listenerCaFile,
    root: () => pebbleRoot(setup),
    stop,
    start,
  };
}
