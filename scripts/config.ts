import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { formatDuration } from "../server/shared/config/duration.ts";
import {
  ConfigError,
  DEFAULT_CONFIG_FILE,
  EXAMPLE_CONFIG_FILE,
  loadConfig,
} from "../server/shared/config/load.ts";
import { describeSecret, SECRET_VARIABLES } from "../server/shared/secrets.ts";
import { readOwnCertificate } from "../server/shared/tls/files.ts";
import { runVerb, type VerbSpec } from "./lib/cli.ts";

const SPEC = {
  verb: "config",
  usage: ["config [FILE]"],
  about: `Validates a deployment config (default: $DROPSHIP_CONFIG, else ${DEFAULT_CONFIG_FILE}) and
prints it resolved, with every default filled in, durations as written, and the secrets
from the environment or .env masked. Exits 1 listing every problem when the file is invalid.`,
  env: ["DROPSHIP_CONFIG"],
  positionals: 1,
} satisfies VerbSpec;

const DURATION_KEYS = new Set([
  "interval",
  "timeout",
  "window",
  "for",
  "repeat",
  "no_data",
  "mail_gap",
  "cooldown",
  "lock_timeout",
  "health_timeout",
  "renew_before",
  "warn_before",
]);

await runVerb(SPEC, ({ positionals }) => {
  const file = positionals[0] ?? process.env.DROPSHIP_CONFIG ?? pickDefault();
  const config = loadConfig(file);
  // a certificate of one's own is checked here too: that it is one, is its key's, covers the
  // domains and is valid now
  if (config.proxy.tls.certificate_file) {
    try {
      readOwnCertificate(config.proxy.tls, dirname(resolve(file)));
    } catch (error) {
      throw new ConfigError(file, [(error as Error).message]);
    }
  }
  const shown = JSON.parse(
    JSON.stringify(config, (key, value) =>
      typeof value === "number" && DURATION_KEYS.has(key) ? formatDuration(value) : value,
    ),
  );
  console.log(`# ${file}: valid`);
  console.log(Bun.YAML.stringify(shown, null, 2));
  console.log("# secrets, from the environment or .env");
  for (const name of SECRET_VARIABLES) console.log(`${name}: ${describeSecret(process.env[name])}`);
});

function pickDefault(): string {
  if (existsSync(DEFAULT_CONFIG_FILE) || !existsSync(EXAMPLE_CONFIG_FILE)) {
    return DEFAULT_CONFIG_FILE;
  }
  console.error(`# no ${DEFAULT_CONFIG_FILE} here; showing ${EXAMPLE_CONFIG_FILE}`);
  return EXAMPLE_CONFIG_FILE;
}
