import { parseArgs } from "node:util";
import { loadLocalSettings } from "../../server/shared/config/env-file.ts";
import { redact } from "../../server/shared/secrets.ts";
import { formatHelp, VARIABLES, type VariableName } from "../../server/shared/variables.ts";

/** A failure the user can act on (exit 1): printed as one line (or a short list), no stack. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The command line itself is wrong (exit 2): said with the verb's usage. */
export class ArgumentError extends Error {
  override name = "ArgumentError";
}

/** What the commands that reach the hosts read, as the receiver does. */
export const FLEET_ENV: VariableName[] = [
  "DROPSHIP_CONFIG",
  "DROPSHIP_INVENTORY",
  "DROPSHIP_GITOPS_REPO",
  "DROPSHIP_SSH_KEY",
  "DROPSHIP_KNOWN_HOSTS",
  "DROPSHIP_WORK",
];

/** What bun run backup and restore read. */
export const BACKUP_ENV: VariableName[] = [
  "REDIS_URL",
  "DROPSHIP_CONFIG",
  "DROPSHIP_GITOPS_REPO",
  "DROPSHIP_BACKUPS",
  "DROPSHIP_ACTOR",
];

export interface OptionSpec {
  type: "boolean" | "string";
  short?: string;
  /** what the value is, in the help: N, DURATION, DIR */
  value?: string;
  description: string;
}

export interface VerbSpec {
  verb: string;
  /** the forms of the command line, after `bun run` */
  usage: string[];
  about: string;
  options?: Record<string, OptionSpec>;
  /** the environment it reads */
  env?: VariableName[];
  /** positional arguments allowed at most (default none) */
  positionals?: number;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  /** the words after `--`, untouched (exec's command) */
  rest: string[];
}

export function helpOf(spec: VerbSpec): string {
  const options = Object.entries(spec.options ?? {}).map(([name, o]) => ({
    name: `${o.short ? `-${o.short}, ` : "    "}--${name}${o.value ? ` ${o.value}` : ""}`,
    description: o.description,
  }));
  options.push({ name: "-h, --help", description: "this text" });
  const variables = (spec.env ?? []).map((name) => ({ name, description: VARIABLES[name] }));
  return formatHelp({
    usage: spec.usage.map((u) => `bun run ${u}`),
    about: spec.about,
    options,
    variables,
  });
}

/** Parses a command line against a verb's spec; a fault is an ArgumentError. */
export function parseVerbArgs(spec: VerbSpec, args: string[]): ParsedArgs {
  const options = Object.fromEntries(
    Object.entries(spec.options ?? {}).map(([name, o]) => [
      name,
      { type: o.type, ...(o.short ? { short: o.short } : {}) },
    ]),
  );
  const split = args.indexOf("--");
  const ours = split < 0 ? args : args.slice(0, split);
  let parsed: Omit<ParsedArgs, "rest">;
  try {
    parsed = parseArgs({ args: ours, options, allowPositionals: true, strict: true });
  } catch (error) {
    // node:util says "Unknown option '--x'. To specify a positional argument starting with a '-', …"
    throw new ArgumentError((error as Error).message.split(". ")[0] as string);
  }
  const most = spec.positionals ?? 0;
  if (parsed.positionals.length > most)
    throw new ArgumentError(`unexpected ${parsed.positionals.slice(most).join(" ")}`);
  return { ...parsed, rest: split < 0 ? [] : args.slice(split + 1) };
}

/**
 * Runs a CLI verb: `--help` prints its usage, options and variables; a wrong command line
 * exits 2 with the usage, any other failure exits 1 with `dropship VERB: message` on stderr
 * (the stack only with VERBOSE=1), secrets scrubbed.
 */
export async function runVerb(
  spec: VerbSpec,
  main: (args: ParsedArgs) => Promise<void> | void,
  argv: string[] = process.argv.slice(2),
): Promise<void> {
  // a command after `--` (exec) is not ours to read
  const ours = argv.includes("--") ? argv.slice(0, argv.indexOf("--")) : argv;
  if (ours.includes("--help") || ours.includes("-h")) {
    console.log(helpOf(spec));
    return;
  }
  try {
    const args = parseVerbArgs(spec, argv);
    loadLocalSettings();
    await main(args);
  } catch (error) {
    const err = error as Error;
    if (err instanceof ArgumentError) {
      console.error(
        redact(
          `dropship ${spec.verb}: ${err.message}\n${spec.usage.map((u) => `usage: bun run ${u}`).join("\n")}`,
        ),
      );
      process.exitCode = 2;
      return;
    }
    const detail = process.env.VERBOSE === "1" && err.stack ? err.stack : err.message;
    console.error(redact(`dropship ${spec.verb}: ${detail}`));
    process.exitCode = 1;
  }
}
