import { maskUrl } from "./secrets.ts";
import { isSentinelUrl, parseSentinelUrl } from "./state/sentinel-url.ts";
import { formatHelp } from "./variables.ts";

/** dropship-proxy's admin listener, unless DROPSHIP_ADMIN_PORT says otherwise (the playbooks' dropship_ports.admin). */
export const ADMIN_PORT = 9090;

export interface Variable<T> {
  name: string;
  description: string;
  /** undefined: the variable is required, unless it is optional */
  fallback?: T;
  /** may be left unset with no default (the value is then undefined) */
  optional?: boolean;
  /** the value, or throws an Error saying what is wrong with the text */
  parse: (text: string) => T;
}

type Values<S extends Record<string, Variable<unknown>>> = {
  [K in keyof S]: S[K] extends Variable<infer T> ? T : never;
};

export class EnvError extends Error {
  override name = "EnvError";
}

/** Reads every variable of a spec at once; throws one EnvError listing all the faults. */
export function readEnv<S extends Record<string, Variable<unknown>>>(
  spec: S,
  env: Record<string, string | undefined> = process.env,
): Values<S> {
  const out: Record<string, unknown> = {};
  const faults: string[] = [];
  for (const [key, variable] of Object.entries(spec)) {
    const text = env[variable.name];
    if (text === undefined || text === "") {
      if (variable.fallback === undefined && !variable.optional)
        faults.push(`${variable.name} is not set — ${variable.description}`);
      out[key] = variable.fallback;
      continue;
    }
    try {
      out[key] = variable.parse(text);
    } catch (error) {
      faults.push(`${variable.name}: ${(error as Error).message}`);
    }
  }
  if (faults.length > 0) throw new EnvError(faults.join("; "));
  return out as Values<S>;
}

/** The `--help` text of a server: what it is, then every variable it reads (as the commands' --help). */
export function helpText(
  name: string,
  title: string,
  spec: Record<string, Variable<unknown>>,
): string {
  return formatHelp({
    usage: [`${name} [--help | --version]`],
    about: title,
    variables: Object.values(spec).map((variable) => {
      const fallback =
        variable.fallback !== undefined && variable.fallback !== ""
          ? `default ${String(variable.fallback)}`
          : variable.optional || variable.fallback === ""
            ? "optional"
            : "required";
      return { name: variable.name, description: `${variable.description} (${fallback})` };
    }),
  });
}

const fault = (message: string): never => {
  throw new Error(message);
};

export const port = (fallback: number, description: string): Variable<number> => ({
  name: "PORT",
  description,
  fallback,
  parse: (text) => {
    const value = Number(text);
    return Number.isInteger(value) && value >= 0 && value <= 65535
      ? value
      : fault(`${JSON.stringify(text)} is not a port — use a whole number from 0 to 65535`);
  },
});

export const host = (): Variable<string> => ({
  name: "HOST",
  description: "address to listen on",
  fallback: "0.0.0.0",
  parse: (text) => text,
});

export const redisUrl = (): Variable<string> => ({
  name: "REDIS_URL",
  description:
    "where the shared state lives, like redis://:password@10.0.0.2:6379/0 (or redis-sentinel://user:password@dropship/0?sentinels=… where Redis has a replica)",
  parse: (text) => {
    if (isSentinelUrl(text)) {
      try {
        parseSentinelUrl(text);
        return text;
      } catch (error) {
        return fault(`${maskUrl(text)}: ${(error as Error).message}`);
      }
    }
    try {
      const url = new URL(text);
      if (url.protocol === "redis:" || url.protocol === "rediss:") return text;
    } catch {
      // reported below
    }
    return fault(
      `${maskUrl(text).replace(/\/\/[^@]*@/, "//****@")} is not a redis:// URL — write it like redis://:password@host:6379/0`,
    );
  },
});

export const oneOf = <T extends string>(
  name: string,
  choices: readonly T[],
  fallback: T | undefined,
  description: string,
): Variable<T> => ({
  name,
  description: `${description}: ${choices.join(" or ")}`,
  fallback,
  parse: (text) =>
    (choices as readonly string[]).includes(text)
      ? (text as T)
      : fault(`${JSON.stringify(text)} is not one of ${choices.join(", ")}`),
});

export const text = (name: string, fallback: string | undefined, description: string) =>
  ({ name, description, fallback, parse: (value: string) => value }) satisfies Variable<string>;
