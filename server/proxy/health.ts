export interface Health {
  healthy: boolean;
  /** consecutive failed checks or connections */
  failures: number;
  /** why it is unhealthy, for the status page */
  reason: string;
  /** the release the backend reported on its last good check */
  version: string;
}

export const UNCHECKED: Health = {
  healthy: false,
  failures: 0,
  reason: "not checked yet",
  version: "",
};

/** Failed checks in a row before a backend leaves the rotation (a refused connection: at once). */
export const FALL = 2;

export type CheckResult = { ok: true; version: string } | { ok: false; reason: string };

/** The health after one active check: back at the first success, out after FALL failures. */
export function afterCheck(health: Health, result: CheckResult): Health {
  if (result.ok) return { healthy: true, failures: 0, reason: "", version: result.version };
  const failures = health.failures + 1;
  return {
    ...health,
    failures,
    healthy: health.healthy && failures < FALL,
    reason: result.reason,
  };
}

/** Passive ejection: a connection that failed takes the backend out until a check passes. */
export function afterConnectionFailure(health: Health, reason: string): Health {
  return { ...health, healthy: false, failures: Math.max(health.failures, FALL), reason };
}

/** One active check of `url` within `timeoutMs`; the body's `version` is kept when JSON. */
export async function checkHealth(url: string, timeoutMs: number): Promise<CheckResult> {
  try {
    const response = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      redirect: "manual",
    });
    const text = await response.text();
    if (!response.ok) return { ok: false, reason: `health check answered ${response.status}` };
    let version = "";
    try {
      const body = JSON.parse(text) as { version?: unknown };
      if (typeof body.version === "string") version = body.version;
    } catch {
      // a plain-text health check is fine too
    }
    return { ok: true, version };
  } catch (error) {
    const name = (error as Error).name;
    if (name === "TimeoutError" || name === "AbortError") {
      return { ok: false, reason: `health check took over ${timeoutMs} ms` };
    }
    return { ok: false, reason: `health check failed: ${(error as Error).message}` };
  }
}
