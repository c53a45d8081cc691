import { loadLocalSettings } from "../../server/shared/config/env-file.ts";
import { redact } from "../../server/shared/secrets.ts";

/** A failure the user can act on: printed as one line (or a short list), no stack. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * Runs a CLI verb: `--help` prints its usage; any error becomes `dropship VERB: message` on
 * stderr with exit 1 (the stack only with VERBOSE=1), with secrets scrubbed.
 */
export async function runCli(
  verb: string,
  usage: string,
  main: (args: string[]) => Promise<void> | void,
): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    console.log(usage.trim());
    return;
  }
  try {
    loadLocalSettings();
    await main(args);
  } catch (error) {
    const err = error as Error;
    const detail = process.env.VERBOSE === "1" && err.stack ? err.stack : err.message;
    console.error(redact(`dropship ${verb}: ${detail}`));
    process.exitCode = 1;
  }
}
