import { join } from "node:path";
import { type Located, locateConfig } from "./find.ts";
import { DEFAULT_CONFIG_FILE, loadConfig, loadConfigOrDefaults } from "./load.ts";
import type { Config } from "./schema.ts";

// Finding the config needs no schema (the monitor stays small); loading it does.
export { expandPath, type Located, localDir, locateConfig } from "./find.ts";

/** The config every command and server reads, after saying which file it is. */
export function loadLocatedConfig(
  say: (line: string) => void,
  env: Record<string, string | undefined> = process.env,
  cwd = process.cwd(),
): { config: Config; located: Located } {
  const located = locateConfig(env, cwd);
  say(located.said);
  return { config: loadConfigOrDefaults(located.file), located };
}

/** The same, for commands that need a real deployment's config (setup, scale). */
export function loadRequiredConfig(
  say: (line: string) => void,
  env: Record<string, string | undefined> = process.env,
  cwd = process.cwd(),
): { config: Config; file: string } {
  const located = locateConfig(env, cwd);
  const file = located.file ?? join(cwd, DEFAULT_CONFIG_FILE);
  say(located.file ? located.said : `config: ${file}`);
  return { config: loadConfig(file), file };
}
