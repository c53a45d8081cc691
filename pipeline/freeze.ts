import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * A deploy freeze (Kamal's `lock acquire`, GitLab's deploy freeze): while it is on, nothing
 * new ships — pushes to a deploying branch, `bun run deploy`, `env`, `restart` and `upgrade`
 * are refused, saying who froze deploys, when and why. Rollbacks go on (the way back from a
 * bad release is what a freeze during an incident is for), and so do scaling and self-healing,
 * which only add hosts running the live release.
 */
export interface Freeze {
  by: string;
  since: string;
  reason: string;
}

export const FREEZE_REASON_MAX = 200;

/** What is wrong with a freeze's reason, or undefined. */
export function freezeReasonFault(reason: string): string | undefined {
  if (reason.trim() === "")
    return "say why deploys are frozen: bun run freeze on REASON (it is shown to whoever pushes)";
  if (reason.length > FREEZE_REASON_MAX)
    return `the reason has ${reason.length} characters; keep it to ${FREEZE_REASON_MAX}`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are the fault
  if (/[\u0000-\u001f\u007f]/.test(reason))
    return "the reason holds a control character (a newline, a tab): write it as one line";
  return undefined;
}

/** The sentence that refuses a push or a deploy while deploys are frozen. */
export function freezeRefusal(freeze: Freeze | undefined): string | undefined {
  if (!freeze) return undefined;
  return `deploys are frozen since ${freeze.since} by ${freeze.by}: “${freeze.reason}” — bun run freeze off lifts it (rollbacks still go)`;
}

export function describeFreeze(freeze: Freeze | undefined): string {
  return freeze
    ? `frozen since ${freeze.since} by ${freeze.by}: “${freeze.reason}” — pushes, deploy, env, restart and upgrade are refused; rollback, scaling and healing go on`
    : "not frozen: pushes and deploys ship";
}

const freezeFile = (workDir: string) => join(workDir, "freeze.json");

/**
 * The freeze in the receiver's work folder, if on. A file that cannot be read counts as a
 * freeze (refusing is the safe side) whose reason says so.
 */
export function readFreeze(workDir: string): Freeze | undefined {
  let text: string;
  try {
    text = readFileSync(freezeFile(workDir), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    return unreadable(workDir, (error as Error).message);
  }
  try {
    const freeze = JSON.parse(text) as Partial<Freeze>;
    if (
      typeof freeze.by === "string" &&
      typeof freeze.since === "string" &&
      typeof freeze.reason === "string"
    )
      return { by: freeze.by, since: freeze.since, reason: freeze.reason };
  } catch {
    // said below
  }
  return unreadable(workDir, "it is not a freeze's JSON");
}

const unreadable = (workDir: string, why: string): Freeze => ({
  by: "nobody known",
  since: "an unknown time",
  reason: `${freezeFile(workDir)} cannot be read (${why}); bun run freeze off removes it`,
});

/** Turns the freeze on (written whole: a reader never sees half) or, with undefined, off. */
export function writeFreeze(workDir: string, freeze: Freeze | undefined): void {
  const file = freezeFile(workDir);
  if (!freeze) {
    rmSync(file, { force: true });
    return;
  }
  mkdirSync(workDir, { recursive: true });
  const temp = `${file}.${process.pid}.part`;
  writeFileSync(temp, `${JSON.stringify(freeze)}\n`, { mode: 0o600 });
  renameSync(temp, file);
}

/** Throws the refusal while deploys are frozen. */
export function refuseWhileFrozen(workDir: string): void {
  const refusal = freezeRefusal(readFreeze(workDir));
  if (refusal) throw new FrozenError(refusal);
}

export class FrozenError extends Error {
  override name = "FrozenError";
}
