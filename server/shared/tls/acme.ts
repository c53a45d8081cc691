import { Resolver } from "node:dns/promises";
import { Agent } from "node:https";
import * as acme from "acme-client";

/**
 * The one module that talks to an ACME CA (acme-client, HTTP-01). The challenge answers are
 * handed to `challenges`, which puts them where every proxy can serve them.
 */
export interface IssueRequest {
  directory: string;
  email: string;
  /** the names the certificate covers, the first its common name */
  domains: readonly string[];
  /** PEM account key (made once and kept by the caller) */
  accountKey: string;
  /** the account's URL at this directory, once known: registering again is skipped */
  accountUrl?: string;
  challenges: {
    put(token: string, answer: string): Promise<void>;
    remove(token: string): Promise<void>;
  };
  /** PEM of the CA the directory's own HTTPS is signed by (a test CA such as pebble); else the system's */
  directoryCa?: string;
}

export interface Issued {
  cert: string;
  key: string;
  /** the account's URL, to give as accountUrl next time */
  accountUrl: string;
}

export async function newAccountKey(): Promise<string> {
  return (await acme.crypto.createPrivateEcdsaKey()).toString();
}

/** The CA's directory did not answer: asking again for fewer names would not help. */
export class CaUnreachable extends Error {}

export async function issueCertificate(request: IssueRequest): Promise<Issued> {
  if (request.domains.length === 0) throw new Error("a certificate needs at least one name");
  // acme-client turns a CA that cannot be reached into a TypeError of its own; ask first
  try {
    const answer = await fetch(request.directory, {
      signal: AbortSignal.timeout(15_000),
      ...(request.directoryCa ? { tls: { ca: request.directoryCa } } : {}),
    });
    if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
  } catch (error) {
    const code = (error as { code?: string }).code ?? (error as Error).message;
    throw new CaUnreachable(`the CA at ${request.directory} could not be reached (${code})`);
  }
  return issue(request);
}

async function issue(request: IssueRequest): Promise<Issued> {
  if (request.directoryCa) acme.axios.defaults.httpsAgent = new Agent({ ca: request.directoryCa });
  // a CA that does not answer is a failed attempt, retried by the caller's backoff (acme-client
  // would otherwise wait 75 s over five tries of its own)
  acme.axios.defaults.timeout = 15_000;
  const settings = (acme.axios.defaults as { acmeSettings?: Record<string, number> }).acmeSettings;
  if (settings) Object.assign(settings, { retryMaxAttempts: 1, retryDefaultDelay: 1 });
  const client = new acme.Client({
    directoryUrl: request.directory,
    accountKey: request.accountKey,
    // how often it asks whether the CA has validated: first after 1 s, then 2, 4, … 30 s, ~2.5
    // minutes in all (acme-client's first wait is 5 s, where a validation takes ~1 s)
    backoffMin: 1000,
    backoffMax: 30_000,
    backoffAttempts: 10,
    // a known account is not registered again: acme-client would then send an update that
    // says nothing without a contact, which pebble refuses
    ...(request.accountUrl ? { accountUrl: request.accountUrl } : {}),
  });
  const [key, csr] = await acme.crypto.createCsr(
    { commonName: request.domains[0], altNames: [...request.domains] },
    await acme.crypto.createPrivateEcdsaKey(),
  );
  const cert = await client.auto({
    csr,
    ...(request.email ? { email: request.email } : {}),
    termsOfServiceAgreed: true,
    challengePriority: ["http-01"],
    // resolution was checked before asking; the CA makes the real check from outside
    skipChallengeVerification: true,
    challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
      if (challenge.type !== "http-01")
        throw new Error(`${challenge.type} is not offered by dropship`);
      await request.challenges.put(challenge.token, keyAuthorization);
    },
    challengeRemoveFn: async (_authz, challenge) => {
      await request.challenges.remove(challenge.token);
    },
  });
  return { cert, key: key.toString(), accountUrl: client.getAccountUrl() };
}

/**
 * Why `domain` is not ready for a certificate — it does not resolve to any of the entry's
 * addresses — saying what DNS answers instead; undefined when it is. `server` is host:port of
 * the DNS server to ask (the system's when unset).
 */
export async function resolutionFault(
  domain: string,
  entry: readonly string[],
  server?: string,
): Promise<string | undefined> {
  const resolver = new Resolver({ timeout: 3000, tries: 2 });
  if (server) resolver.setServers([server]);
  let answers: string[];
  try {
    answers = await resolver.resolve4(domain);
  } catch (error) {
    const code = (error as { code?: string }).code ?? (error as Error).message;
    return `${domain} does not resolve (${code}${server ? ` from ${server}` : ""}) — point its A record at ${entry.join(" or ")}, then try again`;
  }
  if (answers.some((a) => entry.includes(a))) return undefined;
  return `${domain} resolves to ${answers.join(", ")}, not to the proxy's ${entry.join(" or ")} — point its A record there first (the CA would reach another server)`;
}
