import { checkHealth } from "./health.ts";
import type { Member, Pool } from "./pool.ts";

export interface HealthSettings {
  path: string;
  interval: number;
  timeout: number;
}

/** Active health checks of every backend, one in flight per backend at most. */
export function startHealthChecks(pool: Pool, settings: HealthSettings) {
  const running = new Map<string, Promise<void>>();
  const checkOne = (member: Member) => {
    const { id, url } = member.backend;
    const inFlight = running.get(id);
    if (inFlight) return inFlight;
    const check = checkHealth(`${url}${settings.path}`, settings.timeout)
      .then((result) => pool.recordCheck(id, result))
      .finally(() => running.delete(id));
    running.set(id, check);
    return check;
  };
  const checkNow = async (members: Member[]) => {
    await Promise.all(members.map(checkOne));
  };
  const timer = setInterval(() => void checkNow(pool.all()), settings.interval);
  return {
    checkNow: (members: Member[]) => checkNow(members),
    stop: () => clearInterval(timer),
  };
}
