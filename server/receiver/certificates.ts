import type { Mail } from "../shared/mailer.ts";
import { type RedisClient, whenReady } from "../shared/state/redis.ts";
import {
  putCertificate,
  putChallenge,
  putStatus,
  readCertificates,
  readStatuses,
  removeChallenge,
  TLS_KEYS,
  withIssuingLock,
} from "../shared/state/tls.ts";
import {
  CaUnreachable,
  issueCertificate,
  newAccountKey,
  resolutionFault,
} from "../shared/tls/acme.ts";
import { certificateFacts } from "../shared/tls/certificate.ts";
import { readOwnCertificate } from "../shared/tls/files.ts";
import {
  afterFailure,
  orderNames,
  type RenewalSettings,
  renewalPlan,
} from "../shared/tls/renewal.ts";

export interface CertificateDeps {
  redis: RedisClient;
  tls: {
    domains: readonly string[];
    email: string;
    acme_directory: string;
    certificate_file: string;
    key_file: string;
  };
  /** where certificate_file and key_file are relative to */
  configDir: string;
  renewal: RenewalSettings;
  /** the public entry's addresses, which every domain must resolve to */
  entry: () => Promise<string[]>;
  /** host:port of the DNS server to check names with (the system's when unset) */
  dnsServer?: string;
  /** PEM the ACME directory's own HTTPS is signed by, for a test CA */
  directoryCa?: string;
  mail?: (mail: Mail) => void;
  say: (line: string) => void;
}

export type Outcome = { domain: string; result: "issued" | "failed" | "stored"; detail: string };

/** The lock outlives any one issuing round; a holder that died lets go after this. */
const LOCK_MS = 10 * 60_000;
const CHALLENGE_MS = 15 * 60_000;
/** Let's Encrypt's limit of names on one certificate */
const MAX_NAMES = 100;

/**
 * One round of the certificate manager: a certificate from files is checked and stored; with
 * ACME, when any domain has no certificate or is close to expiry, one certificate is issued
 * under the Redis lock (so several control processes never race) naming every domain that
 * points at the entry, the due ones and the others alike, because the proxy's own TLS front
 * serves one certificate (Bun.listen takes no SNI list). A domain that does not point at the
 * entry, or waits out a failure of its own, is left out; if the CA refuses the whole order, each
 * due domain is asked for alone, so one bad name holds up no other. A failure waits a doubled
 * time before the next try, and a person hears once when renewal still fails close to expiry.
 * `force` issues for these domains now, whatever their expiry and backoff (bun run certs
 * renew). Answers undefined when another process held the lock.
 */
export async function certificateRound(
  deps: CertificateDeps,
  now = new Date(),
  force?: readonly string[],
): Promise<Outcome[] | undefined> {
  const { redis, tls } = deps;
  if (tls.certificate_file) return storeOwnCertificate(deps, now);
  return withIssuingLock(redis, LOCK_MS, async () => {
    const held = await readCertificates(redis);
    const attempts = await readStatuses(redis);
    const plan = renewalPlan(tls.domains, held, attempts, now, deps.renewal);
    const due = new Map(
      (force ? force.map((domain) => ({ domain, why: "asked for" })) : plan.issue).map(
        ({ domain, why }) => [domain, why],
      ),
    );
    for (const warning of plan.warn) {
      deps.mail?.({
        subject: `[dropship] the certificate for ${warning.domain} expires ${warning.notAfter} and renewal fails`,
        text: `Renewing the certificate for ${warning.domain} failed ${warning.failures} times; the last error: ${attempts.get(warning.domain)?.lastError ?? "unknown"}.\nIt expires ${warning.notAfter}; browsers refuse the site after that.\nbun run certs list shows every domain; bun run certs renew ${warning.domain} tries again now.\n`,
      });
      await putStatus(redis, warning.domain, {
        ...(attempts.get(warning.domain) ?? { failures: 0 }),
        warnedFor: warning.notAfter,
      });
      deps.say(`certificates: mailed that ${warning.domain} is not renewing`);
    }
    const outcomes: Outcome[] = [];
    if (due.size === 0) return outcomes;
    const failed = async (domain: string, message: string) => {
      const status = afterFailure(attempts.get(domain), message, new Date(), deps.renewal);
      await putStatus(redis, domain, status);
      outcomes.push({ domain, result: "failed", detail: message });
      deps.say(
        `certificates: ${domain} not issued (${status.failures} in a row; next try after ${status.nextAttemptAt}): ${message}`,
      );
    };
    let entry: string[];
    try {
      entry = await deps.entry();
    } catch (error) {
      for (const domain of due.keys()) await failed(domain, (error as Error).message);
      return outcomes;
    }
    const ready: string[] = [];
    for (const domain of orderNames(tls.domains, new Set(due.keys()), held, attempts, now)) {
      const fault = await resolutionFault(domain, entry, deps.dnsServer);
      if (!fault) ready.push(domain);
      else if (due.has(domain)) await failed(domain, fault);
    }
    const issueFor = async (names: string[]) => {
      const whys = names.filter((name) => due.has(name)).map((name) => `${name}: ${due.get(name)}`);
      deps.say(
        `certificates: asking ${tls.acme_directory} for ${names.join(", ")} (${whys.join("; ")})`,
      );
      const issued = await issueWithAccount(deps, names);
      const facts = certificateFacts(issued.cert);
      if (!facts) throw new Error("the CA's answer is not a certificate");
      const notAfter = facts.notAfter.toISOString();
      for (const domain of names) {
        await putCertificate(redis, domain, {
          cert: issued.cert,
          key: issued.key,
          notAfter,
          issuedAt: now.toISOString(),
          issuer: facts.issuer,
        });
        await putStatus(redis, domain, { failures: 0 });
        outcomes.push({ domain, result: "issued", detail: `valid until ${notAfter}` });
      }
      deps.say(`certificates: ${names.join(", ")} issued, valid until ${notAfter}`);
    };
    for (let at = 0; at < ready.length; at += MAX_NAMES) {
      const names = ready.slice(at, at + MAX_NAMES);
      // the due ones may all have failed above (no A record yet): the rest keep what they have,
      // rather than spend the CA's weekly certificates for one set of names at every retry
      if (!names.some((name) => due.has(name))) continue;
      try {
        await issueFor(names);
      } catch (error) {
        const message = (error as Error).message;
        const alone = names.filter((name) => due.has(name));
        if (names.length > 1 && !(error instanceof CaUnreachable)) {
          deps.say(
            `certificates: one certificate for ${names.join(", ")} was not issued (${message}); asking for ${alone.join(", ")} one by one`,
          );
          for (const domain of alone) {
            await issueFor([domain]).catch((one: Error) => failed(domain, one.message));
          }
          continue;
        }
        // names not due keep the certificate they have
        for (const domain of alone) await failed(domain, message);
      }
    }
    return outcomes;
  });
}

/** An order at the CA with the account kept in Redis, registering it when the CA knows it not. */
async function issueWithAccount(deps: CertificateDeps, domains: string[]) {
  const { redis, tls } = deps;
  const request = {
    directory: tls.acme_directory,
    email: tls.email,
    domains,
    accountKey: await accountKey(redis),
    challenges: {
      put: (token: string, answer: string) => putChallenge(redis, token, answer, CHALLENGE_MS),
      remove: (token: string) => removeChallenge(redis, token),
    },
    ...(deps.directoryCa ? { directoryCa: deps.directoryCa } : {}),
  };
  const known = await redis.hget(TLS_KEYS.accountUrls, tls.acme_directory);
  const issued = known
    ? await issueCertificate({ ...request, accountUrl: known }).catch((error: Error) => {
        // an account the CA no longer knows (a test CA restarted): register again
        if (!/account/i.test(error.message)) throw error;
        return issueCertificate(request);
      })
    : await issueCertificate(request);
  await redis.hset(TLS_KEYS.accountUrls, tls.acme_directory, issued.accountUrl);
  return issued;
}

async function storeOwnCertificate(deps: CertificateDeps, now: Date): Promise<Outcome[]> {
  const pair = readOwnCertificate(deps.tls, deps.configDir, now);
  const facts = certificateFacts(pair.cert);
  const held = await readCertificates(deps.redis);
  const outcomes: Outcome[] = [];
  for (const domain of deps.tls.domains) {
    if (held.get(domain)?.cert === pair.cert) continue;
    await putCertificate(deps.redis, domain, {
      ...pair,
      notAfter: facts?.notAfter.toISOString() ?? "",
      issuedAt: now.toISOString(),
      issuer: `${facts?.issuer ?? "unknown"} (from ${deps.tls.certificate_file})`,
    });
    outcomes.push({ domain, result: "stored", detail: deps.tls.certificate_file });
  }
  return outcomes;
}

/** The ACME account's key, made once and kept in Redis where only the control user reads it. */
async function accountKey(redis: RedisClient): Promise<string> {
  const kept = await redis.get(TLS_KEYS.account);
  if (kept) return kept;
  await redis.set(TLS_KEYS.account, await newAccountKey(), "NX");
  return (await redis.get(TLS_KEYS.account)) as string;
}

/** How long a round waits for a Redis connection still coming up. */
const READY_WAIT_MS = 5_000;

/** The manager in the control process: a round at start, then every `intervalMs`. */
export function startCertificateManager(deps: CertificateDeps, intervalMs: number) {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  const round = async () => {
    let next = intervalMs;
    try {
      // a connection opened a moment ago (the receiver starting, an edited config) is given
      // time to come up: its first command would fail at once, and wait 30 s for the next round
      await whenReady(deps.redis, "", READY_WAIT_MS).catch(() => undefined);
      await certificateRound(deps);
    } catch (error) {
      // the round itself could not run (Redis not reachable): again soon, not in an hour
      const why =
        deps.redis.status === "ready"
          ? (error as Error).message
          : `Redis is not reachable (${(error as Error).message})`;
      deps.say(`certificates: ${why}; trying again in 30 s`);
      next = Math.min(intervalMs, 30_000);
    }
    if (!stopped)
      timer = setTimeout(() => {
        running = round();
      }, next);
  };
  running = round();
  return {
    /**
     * No more rounds; resolves once the round under way has ended. An order cut off halfway
     * would spend one of the CA's issuances for nothing and leave the issuing lock held.
     */
    stop(): Promise<void> {
      stopped = true;
      clearTimeout(timer);
      return running;
    },
  };
}
