/**
 * When to ask the CA for a certificate, and when to tell a person it is not working: plain
 * functions over what Redis holds, so the issuer's timing is tested without a clock or a CA.
 */

export interface RenewalSettings {
  /** renew once a certificate expires within this */
  renewBeforeMs: number;
  /** mail once when renewal still fails this close to expiry */
  warnBeforeMs: number;
  /** the wait after the first failure, doubled after each next one */
  firstRetryMs: number;
  maxRetryMs: number;
}

export interface Held {
  notAfter: string;
}

export interface Attempts {
  failures: number;
  nextAttemptAt?: string;
  warnedFor?: string;
}

export interface RenewalPlan {
  /** domains to issue for now, with why */
  issue: { domain: string; why: string }[];
  /** domains whose failing renewal a person must hear about */
  warn: { domain: string; notAfter: string; failures: number }[];
}

export function renewalPlan(
  domains: readonly string[],
  held: ReadonlyMap<string, Held>,
  attempts: ReadonlyMap<string, Attempts>,
  now: Date,
  settings: RenewalSettings,
): RenewalPlan {
  const plan: RenewalPlan = { issue: [], warn: [] };
  for (const domain of domains) {
    const cert = held.get(domain);
    const tried = attempts.get(domain);
    const left = cert ? Date.parse(cert.notAfter) - now.getTime() : -Infinity;
    const why = !cert
      ? "no certificate yet"
      : left <= settings.renewBeforeMs
        ? `it expires ${cert.notAfter}`
        : undefined;
    if (!why) continue;
    if (!waiting(tried, now)) plan.issue.push({ domain, why });
    if (
      cert &&
      tried &&
      tried.failures > 0 &&
      left <= settings.warnBeforeMs &&
      tried.warnedFor !== cert.notAfter
    )
      plan.warn.push({ domain, notAfter: cert.notAfter, failures: tried.failures });
  }
  return plan;
}

/**
 * The names one order asks for, in this order: every due domain, and every other held one
 * that is not waiting out a failure of its own, so that one certificate names the whole site
 * (the proxy's own TLS front serves one). A name that is neither due nor held is waiting.
 */
export function orderNames(
  domains: readonly string[],
  due: ReadonlySet<string>,
  held: ReadonlyMap<string, Held>,
  attempts: ReadonlyMap<string, Attempts>,
  now: Date,
): string[] {
  return [...new Set([...domains, ...due])].filter(
    (domain) => due.has(domain) || (held.has(domain) && !waiting(attempts.get(domain), now)),
  );
}

/** A failed attempt's backoff has not run out yet. */
function waiting(tried: Attempts | undefined, now: Date): boolean {
  return tried?.nextAttemptAt !== undefined && Date.parse(tried.nextAttemptAt) > now.getTime();
}

/** The status after a failed attempt: one more failure, the next try after a doubled wait. */
export function afterFailure(
  before: Attempts | undefined,
  error: string,
  now: Date,
  settings: RenewalSettings,
): Attempts & { lastError: string } {
  const failures = (before?.failures ?? 0) + 1;
  const wait = Math.min(settings.firstRetryMs * 2 ** (failures - 1), settings.maxRetryMs);
  return {
    ...before,
    failures,
    lastError: error,
    nextAttemptAt: new Date(now.getTime() + wait).toISOString(),
  };
}
