import type { Mail } from "../shared/mailer.ts";
import type { Canary } from "../shared/routing/model.ts";

/**
 * The mail a change of the canary is worth, a pure function over what the receiver saw before
 * and sees now; undefined for most changes. As the monitor's rule: one mail when the canary is
 * cut off (whoever did it, the analysis included) and one when it takes visitors again; and,
 * with canary/steps, one when it needs a person — its steps are done (ship it or abort it), or
 * it reached a step that waits for promote. What changed before the receiver first looked is
 * not mailed.
 */
export function canaryMail(
  before: Canary | undefined,
  now: Canary,
  site: string,
  /** the alerts that guard the canary, firing now: staging stays out while one does */
  guarding: readonly string[] = [],
): Mail | undefined {
  if (!before) return undefined;
  const name = `canary ${now.generation}`;
  if (before.state === "active" && now.state === "aborted")
    return {
      subject: `[${site}] ${name} aborted`,
      text: [
        `Staging gets no new visitors: ${now.reason || "aborted"}.`,
        "Visitors it had go back to production; staging's hosts keep running the canary's release.",
        "To let it take visitors again: bun run canary resume (it clears the canary-analysis alert). A push to the staging branch starts a new canary.",
      ].join("\n"),
    };
  if (before.state === "aborted" && now.state === "active") {
    const replaces =
      before.generation === now.generation
        ? ""
        : ` (it replaces canary ${before.generation}, which was aborted)`;
    if (guarding.length > 0)
      return {
        subject: `[${site}] ${name} resumed, but an alert keeps staging out`,
        text: `${now.reason || "Resumed"}${replaces}; staging gets nothing while alert ${guarding.join(", ")} fires (its monitor mails when it resolves), then ${now.weight}% of new visitors.\n`,
      };
    return {
      subject: `[${site}] ${name} takes visitors again`,
      text: `${now.reason || "Resumed"}: staging gets ${now.weight}% of new visitors${replaces}.\n`,
    };
  }
  if (now.state !== "active" || !now.steps || now.step === undefined) return undefined;
  const fresh = before.generation !== now.generation;
  if (now.stepState === "done" && (fresh || before.stepState !== "done"))
    return {
      subject: `[${site}] ${name} finished its steps at ${now.weight}%`,
      text: [
        `It was live through each of its ${now.steps.length} steps without being cut off, and stays at ${now.weight}% of new visitors.`,
        "Ship it by pushing its commit to a production branch (tested there), or cut it off: bun run canary abort.",
      ].join("\n"),
    };
  const step = now.steps[now.step];
  if (
    step &&
    step.for === undefined &&
    now.stepState === "running" &&
    (fresh || before.step !== now.step)
  )
    return {
      subject: `[${site}] ${name} waits for promote at ${now.weight}%`,
      text: [
        `It reached step ${now.step + 1} of ${now.steps.length} (${now.weight}% of new visitors), which lasts until someone promotes it.`,
        now.step + 1 < now.steps.length
          ? `bun run canary promote goes on to ${now.steps[now.step + 1]?.weight}%; bun run canary abort cuts it off.`
          : "It is the last step: ship it by pushing its commit to a production branch, or cut it off: bun run canary abort.",
      ].join("\n"),
    };
  return undefined;
}
