import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

/** The config file's name, looked for in the working directory. */
export const DEFAULT_CONFIG_FILE = "dropship.yml";

export interface Located {
  /** the absolute path of the config file, or undefined when there is none */
  file: string | undefined;
  /** one line for the user: which file was read and why, or that none was */
  said: string;
}

/**
 * `~` and `$VAR` / `${VAR}` in a path setting, as a shell would expand them (a `.env` file is
 * not run through one). An unset variable is an error that names it.
 */
export function expandPath(text: string, env: Record<string, string | undefined>): string {
  const home = env.HOME ?? "";
  const withHome = text === "~" ? home : text.startsWith("~/") ? `${home}${text.slice(1)}` : text;
  return withHome.replace(
    /\$(\w+)|\$\{(\w+)\}/g,
    (_, a: string | undefined, b: string | undefined) => {
      const name = (a ?? b) as string;
      const value = env[name];
      if (value === undefined) throw new Error(`${text} names $${name}, which is not set`);
      return value;
    },
  );
}

/**
 * Where every command and server finds its config: DROPSHIP_CONFIG when set, else
 * `dropship.yml` in the working directory, else none (the defaults).
 */
export function locateConfig(
  env: Record<string, string | undefined> = process.env,
  cwd = process.cwd(),
): Located {
  if (env.DROPSHIP_CONFIG) {
    const file = resolve(cwd, expandPath(env.DROPSHIP_CONFIG, env));
    return { file, said: `config: ${file} (DROPSHIP_CONFIG)` };
  }
  const here = join(cwd, DEFAULT_CONFIG_FILE);
  if (existsSync(here)) return { file: here, said: `config: ${here}` };
  return {
    file: undefined,
    said: `config: none (no ${DEFAULT_CONFIG_FILE} in ${cwd} and DROPSHIP_CONFIG unset): the defaults`,
  };
}

/** The folder of machine-local files beside the config (`.dropship/`). */
export function localDir(located: Located, cwd = process.cwd()): string {
  return join(located.file ? dirname(located.file) : cwd, ".dropship");
}
