import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { APP_SETTINGS_VARIABLE, settingsFaults } from "../app-settings.ts";
import { localDir, locateConfig } from "./locate.ts";

/** `KEY=value` lines, as `.env` files hold them (quotes around a value are taken off). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match) continue;
    const raw = match[2] as string;
    const quoted = /^(["'])(.*)\1$/.exec(raw);
    out[match[1] as string] = quoted ? (quoted[2] as string) : raw;
  }
  return out;
}

/** Adds a file's settings to `env` where `env` has none: the environment always wins. */
export function mergeMissing(
  env: Record<string, string | undefined>,
  settings: Record<string, string>,
): string[] {
  const added: string[] = [];
  for (const [name, value] of Object.entries(settings)) {
    if (env[name] === undefined || env[name] === "") {
      env[name] = value;
      added.push(name);
    }
  }
  return added;
}

/** The machine-local settings `bun run setup` writes beside the config (untracked, 0600). */
export function fleetEnvFile(env = process.env, cwd = process.cwd()): string {
  return join(localDir(locateConfig(env, cwd), cwd), "fleet.env");
}

export function writeFleetEnv(path: string, settings: Record<string, string>): void {
  mkdirSync(dirname(path), { recursive: true });
  const body = Object.entries(settings)
    .map(([name, value]) => `${name}=${value}`)
    .join("\n");
  writeFileSync(
    path,
    `# Written by bun run setup: what the other commands need to reach this fleet. Untracked.\n${body}\n`,
    { mode: 0o600 },
  );
  chmodSync(path, 0o600);
}

/**
 * What every command and server reads besides the environment: the `.env` beside a config
 * kept in another folder (Bun reads the working directory's on its own), then the fleet's
 * `.dropship/fleet.env`. Neither overrides a variable that is set.
 */
export function loadLocalSettings(env = process.env, cwd = process.cwd()): void {
  const { file } = locateConfig(env, cwd);
  if (file && resolve(dirname(file)) !== resolve(cwd)) {
    const beside = join(dirname(file), ".env");
    if (existsSync(beside)) mergeMissing(env, parseEnvFile(readFileSync(beside, "utf8")));
  }
  const fleet = fleetEnvFile(env, cwd);
  if (existsSync(fleet)) mergeMissing(env, parseEnvFile(readFileSync(fleet, "utf8")));
}

/** The team's own settings for its app (`bun run env`), beside the config (untracked, 0600). */
export function appSettingsFile(env = process.env, cwd = process.cwd()): string {
  return join(localDir(locateConfig(env, cwd), cwd), "app.env");
}

/** The app's settings kept at `path`; none when there is no file. */
export function readAppSettings(path: string): Record<string, string> {
  return existsSync(path) ? parseEnvFile(readFileSync(path, "utf8")) : {};
}

/** Writes the app's settings whole: a file beside it, then renamed over it. */
export function writeAppSettings(path: string, lines: string[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const next = `${path}.next`;
  writeFileSync(
    next,
    `# The app's own settings (bun run env): every app host's dropship-app starts with them. Untracked.\n${lines.join("\n")}${lines.length ? "\n" : ""}`,
    { mode: 0o600 },
  );
  chmodSync(next, 0o600);
  renameSync(next, path);
}

/**
 * The app's settings as Ansible takes them (DROPSHIP_APP_SETTINGS), read fresh from `path`,
 * so a host made after `bun run env` has what the others have; a file edited into a fault
 * stops the converge with its path.
 */
export function appSettingsVariable(path: string | undefined): Record<string, string> {
  if (!path) return {};
  const settings = readAppSettings(path);
  const faults = settingsFaults(settings);
  if (faults.length > 0)
    throw new Error(`${path}: ${faults.join("; ")} — set them again with bun run env`);
  return { [APP_SETTINGS_VARIABLE]: JSON.stringify(settings) };
}
