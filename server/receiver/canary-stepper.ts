import type { Mail } from "../shared/mailer.ts";
import type { Canary } from "../shared/routing/model.ts";
import { nextStepMove } from "../shared/routing/steps.ts";
import { ConflictError } from "../shared/state/change.ts";
import type { StateCommands } from "../shared/state/redis.ts";
import { changeCanary, listAlerts, readCanaryVersion } from "../shared/state/routing.ts";
import { canaryMail } from "./canary-mail.ts";

export const STEPPER_ACTOR = "dropship-receiver (canary steps)";

/**
 * One look at the canary: the move nextStepMove says, made only if nobody changed the canary
 * since it was read (a person's weight or abort wins; the next look decides again). Answers
 * what it said, if anything, the canary as read and as it is after the look, and the alerts
 * that guard it (firing: staging gets nothing).
 */
export async function stepOnce(
  redis: StateCommands,
  now: number,
): Promise<{ line?: string; read: Canary; canary: Canary; guarding: string[] }> {
  const { canary, version } = await readCanaryVersion(redis);
  const guarding = (await listAlerts(redis)).filter((a) => a.canary).map((a) => a.id);
  const unmoved = { read: canary, canary, guarding };
  if (!canary.steps || version === undefined) return unmoved;
  const move = nextStepMove(canary, guarding.length > 0, now);
  if (!move) return unmoved;
  try {
    const changed = await changeCanary(redis, move.patch, STEPPER_ACTOR, version);
    return { line: move.line, read: canary, canary: changed.now, guarding };
  } catch (error) {
    if (error instanceof ConflictError) return unmoved;
    throw error;
  }
}

/**
 * The receiver's canary steps: a look every `tickMs`. Redis out of reach is said once until it
 * is back; the steps wait meanwhile (staging keeps the weight it has). With `mail`, what
 * canaryMail says of each change it sees is mailed.
 */
export function startCanaryStepper(
  redis: StateCommands,
  tickMs: number,
  say: (line: string) => void,
  now: () => number = Date.now,
  mail?: { site: string; notify: (mail: Mail) => void },
) {
  let failing = false;
  let running: Promise<void> | undefined;
  let seen: Canary | undefined;
  const look = async () => {
    try {
      const { line, read, canary, guarding } = await stepOnce(redis, now());
      if (line) say(line);
      // what changed before the first look is not news; what this look did is
      const notice = mail && canaryMail(seen ?? read, canary, mail.site, guarding);
      if (notice) mail.notify(notice);
      seen = canary;
      if (failing) say("canary steps: Redis answers again");
      failing = false;
    } catch (error) {
      if (!failing)
        say(`canary steps: waiting, Redis does not answer (${(error as Error).message})`);
      failing = true;
    }
  };
  const tick = () => {
    running ??= look().finally(() => {
      running = undefined;
    });
  };
  const timer = setInterval(tick, tickMs);
  tick();
  return {
    /** Stops looking; a look under way is finished first. */
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
