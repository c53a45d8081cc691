import { existsSync, mkdirSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { gitopsDir, inventoryRepoFor } from "../../gitops/repo.ts";
import { fleetSource } from "../../pipeline/fleet.ts";
import { createRepo, repoExists, repoPath } from "../../pipeline/repos.ts";
import { checkCredentials } from "../shared/auth.ts";
import { formatDuration } from "../shared/config/duration.ts";
import { loadLocalSettings } from "../shared/config/env-file.ts";
import { ConfigError, loadConfigOrDefaults } from "../shared/config/load.ts";
import { loadLocatedConfig } from "../shared/config/locate.ts";
import { type LocalPaths, localPaths, PATH_DEFAULTS } from "../shared/config/paths.ts";
import type { Config } from "../shared/config/schema.ts";
import { host, port, readEnv, text, type Variable } from "../shared/env.ts";
import type { Mail } from "../shared/mailer.ts";
import { ownArgv } from "../shared/proc.ts";
import { redact } from "../shared/secrets.ts";
import { onShutdown, serverMain } from "../shared/serve.ts";
import type { RedisClient } from "../shared/state/redis.ts";
import type { CertificatePair } from "../shared/tls/certificate.ts";
import { usersFile } from "../shared/users-file.ts";
import { VERSION } from "../shared/version.ts";
import { holdStarted, judgeCredentials, WrongCredentials } from "../shared/wrong-credentials.ts";
import { receiverFront } from "./front.ts";
import { gitConfig, gitHttpBackend, parseGitPath } from "./git-http.ts";
import { preReceive } from "./hook.ts";
import { pusherAddress } from "./pusher.ts";
import { readPushCertificate, watchPushCertificate } from "./tls.ts";

const SPEC = {
  port: port(9000, "port for git pushes"),
  host: host(),
  token: {
    name: "DROPSHIP_ADMIN_TOKEN",
    description: "the admin token: a push with it as the password is recorded as admin",
    parse: (value: string) => {
      if (value.length < 16) throw new Error(`is ${value.length} characters — use at least 16`);
      return value;
    },
  } satisfies Variable<string>,
  repos: text("DROPSHIP_REPOS", PATH_DEFAULTS.DROPSHIP_REPOS, "where the bare repositories live"),
  users: text(
    "DROPSHIP_USERS_FILE",
    PATH_DEFAULTS.DROPSHIP_USERS_FILE,
    "named users' token hashes (bun run users); a push is recorded under the token's owner",
  ),
  work: text("DROPSHIP_WORK", PATH_DEFAULTS.DROPSHIP_WORK, "workspaces, caches and deploy locks"),
  config: text("DROPSHIP_CONFIG", "", "the deployment config (test commands, ports, timeouts)"),
  inventory: text(
    "DROPSHIP_INVENTORY",
    "",
    "an Ansible inventory of hosts managed by hand; unset, the GitOps repository's is used",
  ),
  redisUrl: text("REDIS_URL", "", "for draining hosts at the proxy and recording deploys"),
  gitopsRepo: text("DROPSHIP_GITOPS_REPO", "", "the GitOps inventory (default: gitops/repo)"),
  sshKey: text(
    "DROPSHIP_SSH_KEY",
    "",
    "the private key for the hosts, its .pub beside it (default: digitalocean/ssh_key)",
  ),
  idleTimeout: {
    name: "DROPSHIP_RECEIVER_IDLE_TIMEOUT",
    description:
      "seconds an idle connection is kept open (1–255); a push's own request is never cut while it runs",
    fallback: 255,
    parse: (value: string) => {
      const seconds = Number(value);
      if (!Number.isInteger(seconds) || seconds < 1 || seconds > 255)
        throw new Error(
          `is ${JSON.stringify(value)} — use a whole number of seconds from 1 to 255`,
        );
      return seconds;
    },
  } satisfies Variable<number>,
  knownHosts: text(
    "DROPSHIP_KNOWN_HOSTS",
    PATH_DEFAULTS.DROPSHIP_KNOWN_HOSTS,
    "the hosts' pinned keys",
  ),
};
// Also read when set: DIGITALOCEAN_TOKEN and DIGITALOCEAN_API_URL (the autoscaler),
// DROPSHIP_GITOPS_TOKEN (pushing the inventory), SMTP_URL and ALERT_EMAIL_TO (the mails about
// scaling, healing, backups, the canary and jobs).

/** A line of the receiver's background work (scaling, backups, jobs, …), with its time: it runs for weeks. */
const say = (line: string) => console.log(`${new Date().toISOString()} ${line}`);

/** The repository name under which the receiver serves the GitOps inventory. */
const INVENTORY = "inventory";
/** How often the config file is looked at for changes (a stat). */
const CONFIG_CHECK_MS = 2_000;
/** git's own setting, over whatever the repository says: git http-backend refuses pushes. */
const READ_ONLY = gitConfig({ "http.receivepack": "false" });

if (process.argv.includes("--hook")) {
  const env = process.env;
  const input = await new Response(Bun.stdin.stream()).text();
  let config: Config;
  try {
    // read afresh for every push, so a change to the config applies without a restart
    config = loadConfigOrDefaults(env.DROPSHIP_CONFIG ?? "");
  } catch (error) {
    const problem = error instanceof ConfigError ? error.message : redact((error as Error).message);
    process.stdout.write(
      `✗ push rejected: the receiver's config does not validate, so nothing was tested or deployed:\n${problem}\nFix the file (bun run config checks it), then push again.\n`,
    );
    process.exit(1);
  }
  const paths = localPaths(config, env);
  // only the app's repository deploys; any other (an inventory pushed here, say) is stored
  const repo = basename(resolve(env.GIT_DIR ?? ".")).replace(/\.git$/, "");
  const app = env.DROPSHIP_REPO || "app";
  if (repo !== app) {
    process.stdout.write(`${repo}.git: stored, not deployed (only ${app}.git deploys)\n`);
    process.exit(0);
  }
  const code = await preReceive(input, {
    config,
    fleet: () => fleetSource(env, config, paths),
    redisUrl: env.REDIS_URL || undefined,
    workDir: paths.work,
    pusher: env.REMOTE_USER ?? "unknown",
    hookDir: env.DROPSHIP_CONFIG ? dirname(env.DROPSHIP_CONFIG) : undefined,
  });
  process.exit(code);
}

await serverMain(
  "dropship-receiver",
  "git push prod: test gate and rolling deploys",
  SPEC,
  async () => {
    loadLocalSettings(); // .env beside the config, then .dropship/fleet.env from bun run setup
    const env = readEnv(SPEC);
    const { config, located } = loadLocatedConfig((line) =>
      console.log(`dropship-receiver: ${line}`),
    );
    const paths = localPaths(config);
    const repos = paths.repos;
    mkdirSync(repos, { recursive: true });
    const gitops = gitopsDir(config, { DROPSHIP_GITOPS_REPO: env.gitopsRepo });
    const hookEnv = {
      DROPSHIP_HOOK_EXEC: process.execPath,
      // the entry file when run by bun (source or bundle); none for the compiled receiver
      DROPSHIP_HOOK_ARGS: ownArgv().slice(1).join(" "),
      DROPSHIP_CONFIG: located.file ?? "",
      DROPSHIP_INVENTORY: paths.inventory ?? "",
      DROPSHIP_GITOPS_REPO: gitops,
      DROPSHIP_SSH_KEY: paths.sshKey,
      DROPSHIP_KNOWN_HOSTS: paths.knownHosts,
      DROPSHIP_GITOPS_TOKEN: process.env.DROPSHIP_GITOPS_TOKEN ?? "",
      DROPSHIP_WORK: paths.work,
      DROPSHIP_REPO: process.env.DROPSHIP_REPO || "app",
      REDIS_URL: env.redisUrl,
      // a bigger push is refused while it arrives, before it is stored or tested
      ...gitConfig({ "receive.maxInputSize": `${config.pipeline.push_limit}m` }),
    };
    /** The GitOps inventory, for clone and fetch: written by dropship only, never pushed to. */
    const serveInventory = (request: Request, rest: string, user: string) => {
      if (!existsSync(join(gitops, ".git", "HEAD")))
        return new Response(
          `no inventory yet at ${gitops}: bun run scale makes its first commit\n`,
          { status: 404 },
        );
      return gitHttpBackend(request, gitops, { repo: "", rest }, user, READ_ONLY);
    };
    const served = new Set(config.pipeline.repos);
    const deploying = process.env.DROPSHIP_REPO || "app";
    if (!served.has(deploying)) {
      throw new Error(
        `DROPSHIP_REPO is ${deploying}, which pipeline/repos (${[...served].join(", ")}) does not list — add it there, or set DROPSHIP_REPO to one of them`,
      );
    }
    for (const repo of served) if (!repoExists(repos, repo)) createRepo(repoPath(repos, repo));
    const users = usersFile(paths.users, (line) => console.error(`dropship-receiver: ${line}`));
    const wrongCredentials = new WrongCredentials();
    const handle = async (request: Request, server: Bun.Server<undefined>) => {
      const url = new URL(request.url);
      if (url.pathname === "/healthz") return Response.json({ status: "ok", version: VERSION });
      const path = parseGitPath(url.pathname);
      if (!path)
        return new Response(
          "dropship-receiver serves git repositories: http://HOST:PORT/NAME.git\n",
          { status: 404 },
        );
      const ip = server.requestIP(request);
      const address = pusherAddress(
        ip ? (front.sourceOf(ip.port) ?? ip.address) : "unknown",
        request.headers.get("x-forwarded-for"),
      );
      const verdict = judgeCredentials(
        wrongCredentials,
        address,
        request.headers.get("authorization"),
        (authorization) => checkCredentials(authorization, env.token, users),
        performance.now(),
      );
      if (verdict.status === 429)
        return new Response(`Refused: ${verdict.hold.reason}.\n`, {
          status: 429,
          headers: { "retry-after": `${verdict.hold.retryAfterS}` },
        });
      if (!verdict.ok) {
        if (verdict.started && address !== undefined)
          console.error(
            `dropship-receiver: ${holdStarted(address, "push credentials", wrongCredentials, verdict.started)}`,
          );
        return new Response(
          `Push credentials are needed: ${verdict.reason}. Put the admin token, or your own from bun run users add NAME, in the remote URL's password.\n`,
          {
            status: 401,
            headers: { "www-authenticate": 'Basic realm="dropship"' },
          },
        );
      }
      // the answer streams for as long as the push runs, minutes of a silent test included: Bun's
      // idle timer would cut it (it does for a streamed answer), so it is off for this request
      server.timeout(request, 0);
      if (path.repo === INVENTORY) return serveInventory(request, path.rest, verdict.user);
      if (!served.has(path.repo))
        return new Response(
          `no repository ${path.repo}.git here — this receiver serves ${[...served].map((r) => `${r}.git`).join(", ")} (pipeline/repos in dropship.yml)\n`,
          { status: 404 },
        );
      return gitHttpBackend(request, repos, path, verdict.user, hookEnv);
    };
    // behind the counting front (./front.ts), on loopback; with pipeline.tls it speaks HTTPS, the
    // front passing the TLS bytes untouched
    const listen = (tls?: CertificatePair): Bun.Server<undefined> =>
      Bun.serve({
        port: 0,
        hostname: "127.0.0.1",
        idleTimeout: env.idleTimeout,
        ...(tls ? { tls } : {}),
        fetch: handle,
      });
    const pushTls = config.pipeline.tls.certificate_file ? config.pipeline.tls : undefined;
    const configDir = located.file ? dirname(located.file) : process.cwd();
    let server = listen(pushTls ? readPushCertificate(pushTls, configDir) : undefined);
    const front = receiverFront(env.host, env.port, () => server.port);
    // a renewed certificate gets a listener of its own; the one before finishes what it holds
    const renewals = pushTls
      ? watchPushCertificate(
          pushTls,
          configDir,
          (pair) => {
            const before = server;
            server = listen(pair);
            setTimeout(() => before.stop(), 2_000);
          },
          (line) => console.error(`dropship-receiver: ${line}`),
        )
      : undefined;
    console.log(
      `dropship-receiver ${VERSION} listening on ${pushTls ? "https" : "http"}://${env.host}:${front.port} — repositories in ${repos}`,
    );
    // each part takes the config as read above: the file may be mid-edit by now
    const background = await followConfig(located.file, config, env.redisUrl, paths, (from) =>
      startBackground(located.file, from, env.redisUrl, paths, gitops),
    );
    onShutdown(async () => {
      await background.stop();
      renewals?.stop();
      front.stop();
      await server.stop();
    });
  },
);

/**
 * Starts the autoscaler and the healer when the config enables them and the environment can
 * reach DigitalOcean, Redis and the hosts (DIGITALOCEAN_TOKEN, REDIS_URL, DROPSHIP_SSH_KEY);
 * says why not otherwise. They share one circuit breaker and one mailer (SMTP_URL,
 * ALERT_EMAIL_TO).
 */
async function maybeKeepFleet(
  configFile: string,
  config: Config,
  redisUrl: string,
  paths: LocalPaths,
) {
  const keyFile = paths.sshKey;
  const missing = [
    !process.env.DIGITALOCEAN_TOKEN && "DIGITALOCEAN_TOKEN is not set",
    !redisUrl && "REDIS_URL is not set",
    !existsSync(keyFile) && `no SSH key at ${keyFile} (DROPSHIP_SSH_KEY)`,
  ].filter(Boolean);
  const off = (what: string, why: (string | false)[]) =>
    console.log(`dropship-receiver: ${what} off (${why.filter(Boolean).join("; ")})`);
  const scaling = config.autoscale.enabled && missing.length === 0;
  const healing = config.heal.enabled && missing.length === 0;
  if (!scaling)
    off("autoscaler", [!config.autoscale.enabled && "autoscale/enabled is false", ...missing]);
  if (!healing) off("self-healing", [!config.heal.enabled && "heal/enabled is false", ...missing]);
  if (!scaling && !healing) return undefined;
  const { connectRedis } = await import("../shared/state/redis.ts");
  const { breakerFor, startAutoscaler } = await import("./autoscaler.ts");
  const { startHealer } = await import("./healer.ts");
  const { scaleDeps } = await import("../../pipeline/scale.ts");
  const redis = connectRedis(redisUrl, { purpose: "autoscaler", persistent: true });
  const noted = (line: string) => say(`autoscaler: ${line}`);
  const repo = inventoryRepoFor(config, process.env, noted);
  const mailer = await mailerFor(config, say);
  const deps = {
    ...scaleDeps(config, paths, redis, repo, say, process.env, noted),
    configFile: configFile || undefined,
    ...(mailer ? { notify: (mail: Mail) => mailer.send(mail) } : {}),
  };
  const breaker = breakerFor(deps);
  // looked at twice within autoscale/for, so a breach is acted on soon after it has lasted
  const tickMs = Math.min(10_000, Math.max(1_000, config.autoscale.for / 2));
  const scaler = scaling ? startAutoscaler(deps, tickMs, breaker) : undefined;
  const healer = healing ? startHealer(deps, breaker, 5_000) : undefined;
  if (scaler)
    console.log(
      `dropship-receiver: autoscaler on (${config.autoscale.metric}, ${config.autoscale.min}–${config.autoscale.max} hosts)`,
    );
  if (healer)
    console.log(
      `dropship-receiver: self-healing on (a host gone from the API, or silent for ${config.heal.after / 1000} s, is replaced)`,
    );
  return {
    /** resolves once a scale-out, scale-in or replacement under way has finished */
    stop: async () => {
      await Promise.all([scaler?.stop(), healer?.stop()]);
      mailer?.close();
      redis.disconnect();
    },
  };
}

/**
 * A part's first look waits for its Redis connection, up to the client's connect timeout: the
 * connection is made as the part starts, and a look before it is up said Redis did not answer
 * at every start. Redis still down after it is the part's to say.
 */
async function settledConnection(redis: RedisClient, url: string): Promise<void> {
  const { whenReady } = await import("../shared/state/redis.ts");
  await whenReady(redis, url, 2_000).catch(() => undefined);
}

/** The receiver's mails (scaling, healing, backups) go to ALERT_EMAIL_TO through SMTP_URL. */
async function mailerFor(config: Config, say: (line: string) => void) {
  const { SMTP_URL, ALERT_EMAIL_TO } = process.env;
  if (!SMTP_URL || !ALERT_EMAIL_TO) return undefined;
  const { Mailer } = await import("../shared/mailer.ts");
  return new Mailer({
    smtpUrl: SMTP_URL,
    from: `dropship <dropship@${config.name}>`,
    to: ALERT_EMAIL_TO,
    log: say,
  });
}

/**
 * Takes a backup set every backup/every when backup/enabled and Redis is known (bun run backup,
 * on a schedule); mails when they start failing and when they work again.
 */
async function maybeBackups(
  configFile: string | undefined,
  config: Config,
  redisUrl: string,
  paths: LocalPaths,
  gitopsRepo: string,
) {
  if (!config.backup.enabled) return undefined;
  if (!redisUrl) {
    console.log("dropship-receiver: backups off (REDIS_URL is not set)");
    return undefined;
  }
  const { connectRedis } = await import("../shared/state/redis.ts");
  const { recordAction } = await import("../shared/state/audit.ts");
  const { controlFilePaths } = await import("../../pipeline/backup-sets.ts");
  const { startBackupSchedule } = await import("./backups.ts");
  const redis = connectRedis(redisUrl, { purpose: "backups", persistent: true });
  const mailer = await mailerFor(config, say);
  const schedule = startBackupSchedule(
    {
      backup: {
        redisUrl,
        dir: paths.backups,
        gitopsRepo,
        controlFiles: controlFilePaths(paths.users),
        repos: { root: paths.repos, names: config.pipeline.repos },
        keep: config.backup.keep,
      },
      after: {
        command: config.backup.after,
        timeoutMs: config.backup.after_timeout,
        cwd: configFile ? dirname(configFile) : process.cwd(),
        say: (line) => say(`backup: ${line.trim()}`),
      },
      every: config.backup.every,
      site: config.name,
      say,
      ...(mailer ? { notify: (mail: Mail) => mailer.send(mail) } : {}),
      audit: (name, setDir) =>
        recordAction(redis, {
          kind: "backup",
          target: name,
          actor: "dropship-receiver",
          what: `backup ${name} to ${setDir}`,
        }),
    },
    60_000,
  );
  console.log(
    `dropship-receiver: backups every ${formatDuration(config.backup.every)} into ${paths.backups}, the newest ${config.backup.keep} kept`,
  );
  return {
    stop: async () => {
      await schedule.stop();
      mailer?.close();
      redis.disconnect();
    },
  };
}

/**
 * Moves each canary deployed with canary/steps through them, looking every second, whenever
 * Redis is known: the steps are stored with the canary, so one deployed before the config
 * changed finishes the steps it started with. With a mailer, mails when a canary is cut off,
 * takes visitors again, finishes its steps or waits for promote.
 */
async function maybeCanarySteps(config: Config, redisUrl: string) {
  if (!redisUrl) return undefined;
  const { connectRedis } = await import("../shared/state/redis.ts");
  const { startCanaryStepper } = await import("./canary-stepper.ts");
  const redis = connectRedis(redisUrl, { purpose: "canary steps", persistent: true });
  await settledConnection(redis, redisUrl);
  const mailer = await mailerFor(config, say);
  const stepper = startCanaryStepper(
    redis,
    1_000,
    say,
    Date.now,
    mailer ? { site: config.name, notify: (mail) => mailer.send(mail) } : undefined,
  );
  return {
    stop: async () => {
      await stepper.stop();
      mailer?.close();
      redis.disconnect();
    },
  };
}

const startOnly = (settings: string[]) =>
  `${settings.join(", ")} ${settings.length === 1 ? "applies" : "apply"} when the receiver restarts (read at its start)`;

/** The receiver's background work but the jobs, from one reading of the config. */
async function startBackground(
  configFile: string | undefined,
  config: Config,
  redisUrl: string,
  paths: LocalPaths,
  gitops: string,
) {
  let fleet: Awaited<ReturnType<typeof maybeKeepFleet>>;
  let certificates: Awaited<ReturnType<typeof maybeCertificates>>;
  let backups: Awaited<ReturnType<typeof maybeBackups>>;
  let stepper: Awaited<ReturnType<typeof maybeCanarySteps>>;
  /**
   * `settled`: a scale-out, replacement or certificate order under way is waited for, so the
   * parts started next never act beside it (a changed config); else it is left to the
   * process's end (a shutdown).
   */
  const stop = async (settled: boolean) => {
    const fleetStopped = fleet?.stop();
    const certificatesStopped = certificates?.stop();
    if (settled) await Promise.all([fleetStopped, certificatesStopped]);
    await backups?.stop();
    await stepper?.stop();
  };
  try {
    fleet = await maybeKeepFleet(configFile ?? "", config, redisUrl, paths);
    certificates = await maybeCertificates(configFile, config, redisUrl);
    backups = await maybeBackups(configFile, config, redisUrl, paths, gitops);
    stepper = await maybeCanarySteps(config, redisUrl);
  } catch (error) {
    // none of them left running beside the ones started instead
    await stop(true);
    throw error;
  }
  return { stop };
}

type Background = Awaited<ReturnType<typeof startBackground>>;

/**
 * The receiver's background work as the config file says now, looked at every CONFIG_CHECK_MS.
 * An added, changed or removed job takes effect on the running schedule, as a crontab's edit
 * does. Any other change starts the autoscaler, self-healing, certificates, backups and canary
 * steps again from the file, as a restart would (a scale-out or replacement under way finishes
 * first): a lowered autoscale/max holds from then on. A file that no longer validates is said,
 * and everything goes on as it was.
 */
async function followConfig(
  configFile: string | undefined,
  config: Config,
  redisUrl: string,
  paths: LocalPaths,
  startParts: (config: Config) => Promise<Background>,
) {
  const { fileStamp } = await import("../shared/file-stamp.ts");
  const { changedAtStartOnly, changedSections, withStartSettings } = await import(
    "../shared/config/changes.ts"
  );
  // none yet: the first look reads the file, so an edit made since `config` was read is seen
  let stamp = "";
  let parts = await startParts(config);
  let running = await maybeJobs(config, redisUrl, paths);
  const { jobsChange, describeSchedules } = await import("../../pipeline/jobs.ts");
  if (running)
    console.log(`dropship-receiver: jobs on their schedules: ${describeSchedules(config.jobs)}`);
  let current = config;
  let looking = Promise.resolve();
  const look = async (file: string) => {
    const now = fileStamp(file);
    if (now === stamp) return;
    stamp = now;
    let next: Config;
    try {
      next = loadConfigOrDefaults(file);
    } catch (error) {
      const problem =
        error instanceof ConfigError ? error.message : redact((error as Error).message);
      console.error(
        `${new Date().toISOString()} dropship-receiver: ${file} changed but does not validate, so everything goes on as it was (bun run config checks it):\n${problem}`,
      );
      return;
    }
    const later = changedAtStartOnly(config, next);
    next = withStartSettings(config, next);
    const before = current;
    const sections = changedSections(before, next);
    if (sections.length === 0) {
      if (later.length > 0) say(`dropship-receiver: ${file}: ${startOnly(later)}`);
      return;
    }
    current = next;
    const change = jobsChange(before.jobs, next.jobs);
    if (change) {
      if (running) running.replace(next);
      else running = await maybeJobs(next, redisUrl, paths);
      say(
        `dropship-receiver: ${file} changed its jobs (${change}); on their schedules now: ${describeSchedules(next.jobs)}`,
      );
    }
    const others = sections.filter((section) => section !== "jobs");
    if (others.length === 0) return;
    await parts.stop(true);
    try {
      parts = await startParts(next);
    } catch (error) {
      parts = await startParts(before);
      say(
        `dropship-receiver: ${file} changed ${others.join(", ")}, but the autoscaler, self-healing, certificates, backups and canary steps could not start from it (${redact((error as Error).message)}); they go on as they were`,
      );
      return;
    }
    say(
      `dropship-receiver: ${file} changed ${others.join(", ")}: the autoscaler, self-healing, certificates, backups and canary steps started again from it${later.length > 0 ? `; ${startOnly(later)}` : ""}`,
    );
  };
  // one look at a time: what a change starts is not looked at again meanwhile
  const timer = configFile
    ? setInterval(() => {
        looking = looking
          .then(() => look(configFile))
          .catch((error: Error) => say(`config: ${redact(error.message)}`));
      }, CONFIG_CHECK_MS)
    : undefined;
  return {
    stop: async () => {
      clearInterval(timer);
      await looking;
      await Promise.all([parts.stop(false), running?.stop()]);
    },
  };
}

/**
 * Runs config/jobs on their schedules, each on one host of its role over SSH, looking every
 * second; their last runs are kept in Redis when it is known. Mails when a job starts failing
 * and when it works again.
 */
async function maybeJobs(atStart: Config, redisUrl: string, paths: LocalPaths) {
  let config = atStart;
  if (config.jobs.length === 0) return undefined;
  const { runJob, jobOutputCleaner, restingNow } = await import("../../pipeline/job-run.ts");
  const { saveRun, lastRuns } = await import("../shared/state/jobs.ts");
  const { readFleet } = await import("../../pipeline/fleet.ts");
  const { startJobSchedule } = await import("./jobs.ts");
  const mailer = await mailerFor(config, say);
  const redis = redisUrl
    ? (await import("../shared/state/redis.ts")).connectRedis(redisUrl, {
        purpose: "jobs",
        persistent: true,
      })
    : undefined;
  if (redis) await settledConnection(redis, redisUrl);
  else say("dropship-receiver: the jobs' runs are not kept (REDIS_URL is not set)");
  const schedule = startJobSchedule(
    {
      jobs: config.jobs,
      run: async (job) => {
        const source = fleetSource(process.env, config, paths);
        if (!source) throw new Error("no hosts yet: bun run setup makes them");
        const fleet = readFleet(source.inventories);
        return runJob({
          fleet,
          job,
          // a host drained by a person or a deploy gets a run only when no other answers
          ...(redis ? { resting: await restingNow(redis, fleet.hosts) } : {}),
          by: "dropship-receiver (schedule)",
          // read for each run: bun run env may have changed the app's settings meanwhile
          clean: jobOutputCleaner(),
          onLine: (line) => say(`job ${job.name} | ${line}`),
        });
      },
      lastRuns: () => (redis ? lastRuns(redis) : Promise.resolve(new Map())),
      save: (run) => (redis ? saveRun(redis, run) : Promise.resolve()),
      site: config.name,
      say,
      ...(mailer ? { notify: (mail: Mail) => mailer.send(mail) } : {}),
    },
    1_000,
  );
  return {
    /** the config changed: its jobs from the next look on, on its fleet */
    replace: (next: Config) => {
      config = next;
      schedule.replace(next.jobs);
    },
    stop: async () => {
      await schedule.stop();
      mailer?.close();
      redis?.disconnect();
    },
  };
}

/** Keeps the certificates of proxy.tls issued and renewed, checking hourly, when Redis is known. */
async function maybeCertificates(configFile: string | undefined, config: Config, redisUrl: string) {
  const { tlsWanted, certificateDeps } = await import("./certificate-deps.ts");
  if (!tlsWanted(config)) return undefined;
  if (!redisUrl) {
    console.log("dropship-receiver: certificates not managed (REDIS_URL is not set)");
    return undefined;
  }
  const { connectRedis } = await import("../shared/state/redis.ts");
  const { startCertificateManager } = await import("./certificates.ts");
  const redis = connectRedis(redisUrl, { purpose: "certificates", persistent: true });
  const manager = startCertificateManager(
    certificateDeps(config, configFile, redis, say),
    3_600_000,
  );
  console.log(
    `dropship-receiver: certificates for ${config.proxy.tls.domains.join(", ")} (${config.proxy.tls.certificate_file ? `from ${config.proxy.tls.certificate_file}` : config.proxy.tls.acme_directory})`,
  );
  return {
    /** resolves once a round under way (an order with the CA) has ended */
    stop: async () => {
      await manager.stop();
      redis.disconnect();
    },
  };
}
