import { existsSync, readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import { DEFAULT_CONFIG_FILE } from "./find.ts";
import type { Config } from "./schema.ts";

export { DEFAULT_CONFIG_FILE };

import { validateConfig } from "./validate.ts";

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    super(`${file}: ${count}\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

export const EXAMPLE_CONFIG_FILE = "dropship.example.yml";

/** Reads, parses and validates one config file; throws ConfigError listing every problem. */
export function loadConfig(file: string): Config {
  if (!existsSync(file)) {
    throw new ConfigError(file, [
      `no such file — copy ${EXAMPLE_CONFIG_FILE} to ${DEFAULT_CONFIG_FILE} and edit it, or name another file`,
    ]);
  }
  return parseConfigText(file, readFileSync(file, "utf8"));
}

export function parseConfigText(file: string, text: string): Config {
  let raw: unknown;
  try {
    raw = Bun.YAML.parse(text);
  } catch (error) {
    throw new ConfigError(file, [yamlFault(text, (error as Error).message)]);
  }
  const twice = repeatedKeys(text);
  const result = validateConfig(raw);
  if (!result.ok || twice.length > 0)
    throw new ConfigError(file, [...twice, ...(result.ok ? [] : result.errors)]);
  return result.config;
}

/**
 * Each key written a second time in one mapping, as `line L, column C: …`. Bun's parser keeps
 * the last without a word, so a second `proxy:` section further down would drop everything the
 * first one holds; the yaml package sees it.
 */
export function repeatedKeys(text: string): string[] {
  return parseDocument(text)
    .errors.filter((error) => error.code === "DUPLICATE_KEY")
    .map((error) => {
      const [at] = error.linePos ?? [];
      const line = at ? (text.split("\n")[at.line - 1] ?? "") : "";
      const key = at
        ? /^\s*("[^"]*"|'[^']*'|[^:,{}\s][^:,{}]*?)\s*:/.exec(line.slice(at.col - 1))?.[1]
        : undefined;
      const where = at ? `line ${at.line}, column ${at.col}: ` : "";
      return `${where}${key ?? "a key"} is written a second time in the same section — YAML keeps only the last, and what the first holds would be lost; write it once, with everything under it`;
    });
}

/** The config in `file`, or every default when no file is named (servers started bare). */
export function loadConfigOrDefaults(file: string | undefined): Config {
  if (file) return loadConfig(file);
  const defaults = validateConfig({});
  if (!defaults.ok) throw new Error(`built-in defaults are invalid: ${defaults.errors.join("; ")}`);
  return defaults.config;
}

/**
 * Where YAML that does not parse goes wrong, as `line L, column C: …`. Bun's parser says only
 * "Unexpected token"; the yaml package (used for this alone) knows where.
 */
export function yamlFault(text: string, fallback: string): string {
  const [first] = parseDocument(text).errors;
  if (!first) return `is not valid YAML — ${fallback}`;
  const [at] = first.linePos ?? [];
  const what = first.message.split("\n")[0]?.replace(/ at line \d+, column \d+:?$/, "") ?? fallback;
  const where = at ? `line ${at.line}, column ${at.col}: ` : "";
  return `${where}is not valid YAML — ${what}`;
}
