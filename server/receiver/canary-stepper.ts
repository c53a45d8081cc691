import { nextStepMove } from "../shared/routing/steps.ts";
import { ConflictError } from "../shared/state/change.ts";
import type { StateCommands } from "../shared/state/redis.ts";
import { changeCanary, listAlerts, readCanaryVersion } from "../shared/state/routing.ts";

export const STEPPER_ACTOR = "dropship-receiver (canary steps)";

/**
 * One look at the canary: the move nextStepMove says, made only if nobody changed the canary
 * since it was read (a person's weight or abort wins; the next look decides again). Answers
 * what it said, or undefined.
 */
export async function stepOnce(redis: StateCommands, now: number): Promise<string | undefined> {
  const { canary, version } = await readCanaryVersion(redis);
  if (!canary.steps || version === undefined) return undefined;
  const blocked = (await listAlerts(redis)).some((alert) => alert.canary);
  const move = nextStepMove(canary, blocked, now);
  if (!move) return undefined;
  try {
    await changeCanary(redis, move.patch, STEPPER_ACTOR, version);
  } catch (error) {
    if (error instanceof ConflictError) return undefined;
    throw error;
  }
  return move.line;
}

/**
 * The receiver's canary steps: a look every `tickMs`. Redis out of reach is said once until it
 * is back; the steps wait meanwhile (staging keeps the weight it has).
 */
export function startCanaryStepper(
  redis: StateCommands,
  tickMs: number,
  say: (line: string) => void,
  now: () => number = Date.now,
) {
  let failing = false;
  let running: Promise<void> | undefined;
  const look = async () => {
    try {
      const line = await stepOnce(redis, now());
      if (line) say(line);
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
