/** What the emulator found it could do for its droplets (its limits.json). */
export type EmulatorLimits = { limited: true } | { limited: false; why: string };

/**
 * The demo's autoscaler, from whether droplets have their own CPU: on, with thresholds a
 * demo reaches in a minute of `bun run load`, when each droplet sees only its own load; off,
 * and why, when every droplet sees the whole machine (a build would look like load).
 * A hot proxy or staging host gets 2 minutes before it is an alert, so a minute of load scales
 * out without cutting the canary off (their alerts do).
 */
export function demoAutoscale(limits: EmulatorLimits): { config: string[]; note: string } {
  if (!limits.limited)
    return {
      config: ["autoscale: { enabled: false, min: 2, max: 3 }"],
      note: `autoscaler off: the emulator cannot give droplets their own CPU here (${limits.why}), so any load on this machine would look like load on every droplet; bun run scale works`,
    };
  return {
    config: [
      "autoscale: { enabled: true, metric: proxy_cpu, up_above: 40, down_below: 15, for: 10s, cooldown: 20s, min: 2, max: 3 }",
      "monitor: { roles: { proxy: { for: 2m }, staging: { for: 2m } } }",
    ],
    note: "autoscaler on, demo-sized: proxy CPU above 40% for 10 s adds a production droplet (3 at most), below 15% for 10 s removes it, 20 s apart; try bun run load 60s",
  };
}

/** limits.json as the emulator wrote it; a missing or unreadable file reads as unlimited. */
export function readEmulatorLimits(text: string | undefined): EmulatorLimits {
  if (text === undefined) return { limited: false, why: "the emulator did not say" };
  try {
    const value = JSON.parse(text) as { limited?: unknown; why?: unknown };
    if (value.limited === true) return { limited: true };
    return { limited: false, why: typeof value.why === "string" ? value.why : "unknown" };
  } catch {
    return { limited: false, why: "its limits.json is not JSON" };
  }
}
