import { type Static, Type as T, type TSchema } from "@sinclair/typebox";

/** A duration as written in the file (`5s`, `10m`); the resolved config holds milliseconds. */
export type DurationText = string & { readonly __duration: true };
const Duration = (fallback: string, description: string, positive = false) =>
  T.Unsafe<DurationText>(T.String({ duration: true, positive, default: fallback, description }));

const Section = <P extends Record<string, TSchema>>(properties: P, description: string) =>
  T.Object(properties, { additionalProperties: false, default: {}, description });

const Percent = (fallback: number, description: string) =>
  T.Number({ minimum: 0, maximum: 100, default: fallback, description });

const Port = (fallback: number, description: string) =>
  T.Integer({ minimum: 1, maximum: 65535, default: fallback, description });

const SLUG = "^[a-z0-9][a-z0-9-]*$";
/** host or host:port (1–65535), no scheme, no path */
const INSTALL_HOST =
  "^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?$";
const INSTALL_HOST_HINT =
  "a registry's host name, with its port when it is not 443: registry.npmjs.org or npm.example.com:8443";
const BRANCH = "^[A-Za-z0-9._][A-Za-z0-9._/-]*$";
const BRANCH_HINT = "a branch name like main or release/2.1";
const REPO_NAME = "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$";
const REPO_HINT = "a repository name like app or shop-api (letters, digits, dashes, underscores)";
const SLUG_HINT = "use lowercase letters, digits and dashes, like nyc3 or s-1vcpu-1gb";
const Slug = (fallback: string, description: string) =>
  T.String({ pattern: SLUG, hint: SLUG_HINT, default: fallback, description });

const Role = (count: { fallback: number; min: number; max: number } | undefined, size: string) =>
  Section(
    {
      region: T.Optional(
        T.String({
          pattern: SLUG,
          hint: SLUG_HINT,
          description: "defaults to digitalocean/region",
        }),
      ),
      size: Slug(size, "droplet size slug"),
      image: Slug("debian-12-x64", "droplet image slug"),
      ...(count
        ? {
            count: T.Integer({
              minimum: count.min,
              maximum: count.max,
              default: count.fallback,
              description: "how many droplets of this role",
            }),
          }
        : {}),
    },
    "a role's droplets",
  );

const MetricThresholds = T.Object(
  {
    cpu: T.Optional(T.Number({ minimum: 0, maximum: 100, description: "CPU percent" })),
    memory: T.Optional(T.Number({ minimum: 0, maximum: 100, description: "memory percent" })),
    disk: T.Optional(T.Number({ minimum: 0, maximum: 100, description: "disk percent" })),
    for: T.Optional(
      T.Unsafe<DurationText>(T.String({ duration: true, description: "how long a breach lasts" })),
    ),
  },
  { additionalProperties: false, description: "this role's own thresholds" },
);

/** Redis's maxmemory-policy values (redis.conf). */
export const MAXMEMORY_POLICIES = [
  "volatile-lru",
  "volatile-lfu",
  "volatile-ttl",
  "volatile-random",
  "allkeys-lru",
  "allkeys-lfu",
  "allkeys-random",
  "noeviction",
] as const;

export const ConfigSchema = T.Object(
  {
    name: Slug("dropship", "the deployment's name; prefixes droplet names and tags"),
    digitalocean: Section(
      {
        region: Slug("nyc3", "default region for every role"),
        ssh_key: T.String({
          minLength: 1,
          default: "~/.ssh/id_ed25519",
          description: "private key path; its .pub is registered with DigitalOcean",
        }),
        tag: Slug("dropship", "tag put on every droplet dropship creates"),
        vpc_uuid: T.Optional(T.String({ minLength: 1, description: "VPC for private addresses" })),
      },
      "where droplets are created",
    ),
    roles: Section(
      {
        proxy: Role({ fallback: 1, min: 1, max: 10 }, "s-1vcpu-1gb"),
        redis: Role({ fallback: 1, min: 1, max: 2 }, "s-1vcpu-1gb"),
        production: Role({ fallback: 2, min: 1, max: 50 }, "s-1vcpu-1gb"),
        staging: Role({ fallback: 1, min: 0, max: 1 }, "s-1vcpu-1gb"),
      },
      "droplets per role",
    ),
    ports: Section(
      {
        proxy: Port(80, "public HTTP port of dropship-proxy"),
        app: Port(3000, "dropship-app on every app droplet"),
        monitor: Port(9100, "dropship-monitor on every droplet"),
        receiver: Port(9000, "dropship-receiver on the control host"),
        redis: Port(6379, "redis-server on the redis droplet"),
      },
      "listen ports",
    ),
    redis: Section(
      {
        maxmemory: T.Union([T.Literal("auto"), T.Integer({ minimum: 32, maximum: 1_048_576 })], {
          default: "auto",
          description:
            "MiB of data redis-server may hold; auto: half the droplet's memory (the rest is the host's, and the copy an append-only rewrite forks)",
        }),
        maxmemory_policy: T.Union(
          MAXMEMORY_POLICIES.map((policy) => T.Literal(policy)),
          {
            default: "volatile-lru",
            description:
              "what gives way when it is full: volatile-lru, the keys that expire anyway (a visitor's /set, caches, sessions), never dropship's flags, audit and deploys; noeviction refuses every write instead",
          },
        ),
      },
      "redis-server on the redis droplets",
    ),
    proxy: Section(
      {
        forward_host: T.Boolean({
          default: true,
          description: "send the visitor's Host to the backend; false sends the backend's address",
        }),
        admin_allow: T.Array(T.String({ minLength: 1 }), {
          default: [],
          description:
            "CIDRs the cloud firewall lets reach the admin port (dashboard, admin API); empty: the control host only",
        }),
        trusted_proxies: T.Array(T.String({ minLength: 1 }), {
          default: [],
          description:
            "CIDRs of load balancers in front, whose X-Forwarded-For, -Proto and -Host are kept",
        }),
        proxy_protocol: T.Boolean({
          default: false,
          description:
            "the load balancer sends the PROXY protocol, so the visitor's address is known over HTTPS too (believed from trusted_proxies only)",
        }),
        response_timeout: Duration(
          "30s",
          "the backend's answer must start within this of the request's last byte, or 504; a request body that stops coming for this long is a 408",
          true,
        ),
        workers: T.Union([T.Literal("auto"), T.Integer({ minimum: 1, maximum: 64 })], {
          default: "auto",
          description:
            "proxy processes sharing the ports, each on a core; auto: one per CPU (DROPSHIP_PROXY_WORKERS overrides)",
        }),
        connect_timeout: Duration(
          "2s",
          "a backend that takes longer to accept a connection is skipped for another",
          true,
        ),
        idle_timeout: Duration(
          "120s",
          "an idle keep-alive connection is closed after this (0–4 s after: Bun's socket timers tick every 4 s; Bun.serve's listeners may close a kept-alive one up to 4 s early, so keep it over 8 s)",
          true,
        ),
        max_connections: T.Union(
          [T.Literal("auto"), T.Integer({ minimum: 1, maximum: 10_000_000 })],
          {
            default: "auto",
            description:
              "connections each proxy process holds at once, past which new ones are refused (503); auto: a fifth of its open-file limit",
          },
        ),
        max_connections_per_address: T.Integer({
          minimum: 0,
          maximum: 10_000_000,
          default: 256,
          description:
            "connections one visitor's address (IPv6: its /64) may hold at once in each proxy process (429 past it; trusted_proxies exempt); 0: no limit",
        }),
        rate_limit: Section(
          {
            requests_per_second: T.Integer({
              minimum: 0,
              maximum: 1_000_000,
              default: 0,
              description:
                "requests one visitor's address (IPv6: its /64) may send a second, sustained, on each proxy host — its workers share one bucket an address (429 with Retry-After past it; trusted_proxies' own requests exempt, the visitors they forward each limited); 0: no limit",
            }),
            burst: T.Union([T.Literal("auto"), T.Integer({ minimum: 1, maximum: 10_000_000 })], {
              default: "auto",
              description:
                "requests an address may send at once after a pause, before requests_per_second holds it; auto: twice requests_per_second",
            }),
          },
          "requests per visitor's address, a token bucket each (as nginx's limit_req): one address flooding the proxy is refused while everyone else is served",
        ),
        drain_grace: Duration(
          "250ms",
          "WebSockets on a draining backend are closed (1001) after this",
        ),
        access_log: Section(
          {
            enabled: T.Boolean({
              default: true,
              description:
                "a line for each answer in /srv/dropship/logs/access.log on the proxy hosts (bun run logs --access)",
            }),
            max_size_mb: T.Integer({
              minimum: 1,
              maximum: 100_000,
              default: 64,
              description: "MiB the file grows to before it becomes access.log.1",
            }),
            keep: T.Integer({
              minimum: 1,
              maximum: 100,
              default: 4,
              description: "rotated files kept (access.log.1 … .N), the oldest dropped",
            }),
          },
          "each answer's time, status, method, path (without its query), duration, track, backend, visitor, request id and user agent",
        ),
        tls: Section(
          {
            domains: T.Array(T.String({ minLength: 1 }), {
              default: [],
              description:
                "names served over HTTPS (certificates by ACME HTTP-01), and the only Hosts served: any other gets 421; empty with no certificate_file: HTTP only, any Host",
            }),
            email: T.String({
              default: "",
              description: "the ACME account's contact, told of expiry problems by the CA",
            }),
            acme_directory: T.String({
              pattern: "^https://",
              hint: "an https:// URL like https://acme-v02.api.letsencrypt.org/directory",
              default: "https://acme-v02.api.letsencrypt.org/directory",
              description: "the ACME CA (Let's Encrypt's production directory by default)",
            }),
            hsts: T.String({
              pattern: "^(off|\\d+(\\.\\d+)?(ms|s|m|h|d))$",
              hint: "a max-age like 365d, or off",
              default: "off",
              description: "Strict-Transport-Security max-age on HTTPS answers, or off",
            }),
            certificate_file: T.String({
              default: "",
              description:
                "PEM chain of a certificate you already have, instead of ACME (with key_file)",
            }),
            key_file: T.String({ default: "", description: "its PEM private key" }),
            renew_before: Duration("30d", "renew a certificate this long before it expires", true),
            warn_before: Duration(
              "14d",
              "mail once when renewal still fails this long before expiry",
              true,
            ),
          },
          "HTTPS on 443, with :80 redirecting",
        ),
      },
      "how dropship-proxy forwards",
    ),
    health: Section(
      {
        path: T.String({
          pattern: "^/",
          hint: "start it with /",
          default: "/healthz",
          description: "health endpoint",
        }),
        interval: Duration("1s", "time between active checks", true),
        timeout: Duration("5s", "a check slower than this fails", true),
      },
      "backend health checks",
    ),
    canary: Section(
      {
        weight: Percent(
          30,
          "share of new visitors a new canary gets when canary/steps is empty (bun run canary weight changes the live canary's until the next)",
        ),
        steps: T.Array(
          T.Object(
            {
              weight: T.Integer({
                minimum: 1,
                maximum: 100,
                description: "percent of new visitors sent to staging during the step",
              }),
              for: T.Optional(
                T.Unsafe<DurationText>(
                  T.String({
                    duration: true,
                    positive: true,
                    description:
                      "how long the step lasts while the canary is live; left out, until bun run canary promote",
                  }),
                ),
              ),
            },
            { additionalProperties: false, description: "a step of the canary's weight" },
          ),
          {
            default: [],
            maxItems: 10,
            description:
              "the weights a new canary goes through, each for its time while live, instead of canary/weight from the start (empty: canary/weight at once)",
          },
        ),
        after_alert: T.Union([T.Literal("stay_off"), T.Literal("resume")], {
          default: "stay_off",
          description: "what the canary does when an alert resolves",
        }),
        analysis: Section(
          {
            window: Duration("60s", "sliding window for error rates", true),
            min_requests: T.Integer({
              minimum: 1,
              default: 50,
              description: "staging requests needed before a verdict",
            }),
            max_error_rate_increase: Percent(
              5,
              "abort when staging's 5xx rate exceeds production's by this many points",
            ),
            slow_after: Duration(
              "0s",
              "an answer whose head takes longer is slow, for max_slow_rate_increase; 0s: speed is not judged",
            ),
            max_slow_rate_increase: Percent(
              10,
              "with slow_after, abort when staging's share of slow answers exceeds production's by this many points",
            ),
          },
          "automatic canary analysis",
        ),
      },
      "the canary",
    ),
    monitor: Section(
      {
        interval: Duration("5s", "sampling interval", true),
        cpu: Percent(50, "alert above this CPU percent"),
        memory: Percent(50, "alert above this memory percent"),
        disk: Percent(90, "alert above this percent of the root filesystem in use (df's Use%)"),
        for: Duration("30s", "how long a breach must last before it fires"),
        hysteresis: Percent(5, "clear only below threshold minus this"),
        repeat: Duration("4h", "re-send while still firing", true),
        no_data: Duration("30s", "silence after which a host is its own alert", true),
        mail_gap: Duration("1m", "least time between two mails about one host", true),
        roles: Section(
          {
            proxy: T.Optional(MetricThresholds),
            redis: T.Optional(MetricThresholds),
            production: T.Optional(MetricThresholds),
            staging: T.Optional(MetricThresholds),
          },
          "per-role overrides of cpu, memory, disk and for",
        ),
      },
      "host monitoring and alerts",
    ),
    autoscale: Section(
      {
        enabled: T.Boolean({ default: true, description: "let the receiver scale production" }),
        metric: T.Union(
          [T.Literal("proxy_cpu"), T.Literal("production_cpu"), T.Literal("rps_per_host")],
          { default: "proxy_cpu", description: "what the policy watches" },
        ),
        up_above: T.Number({ minimum: 0, default: 50, description: "scale out above this" }),
        down_below: T.Number({ minimum: 0, default: 20, description: "scale in below this" }),
        for: Duration("60s", "how long the metric must stay past a threshold"),
        cooldown: Duration("10m", "least time between two scaling actions"),
        min: T.Integer({ minimum: 1, default: 2, description: "fewest production hosts" }),
        max: T.Integer({ minimum: 1, default: 4, description: "hard cap on production hosts" }),
        max_failures: T.Integer({
          minimum: 1,
          default: 3,
          description:
            "failed provisions in a row (scaling or healing) before the autoscaler stops both",
        }),
      },
      "the autoscaler",
    ),
    heal: Section(
      {
        enabled: T.Boolean({
          default: true,
          description: "let the receiver replace dead hosts (proxy, production, staging)",
        }),
        after: Duration(
          "2m",
          "a host silent this long (no monitor figures, health failing) is replaced",
          true,
        ),
      },
      "self-healing: a host gone from the cloud API or silent is replaced",
    ),
    pipeline: Section(
      {
        test: Section(
          {
            master: T.String({ minLength: 1, default: "bun test", description: "gates master" }),
            staging: T.String({ minLength: 1, default: "bun test", description: "gates staging" }),
          },
          "the test command per branch",
        ),
        branches: Section(
          {
            production: T.Array(T.String({ pattern: BRANCH, hint: BRANCH_HINT }), {
              default: ["master", "main"],
              description: "pushed branches that deploy to production (tested by test/master)",
            }),
            staging: T.Array(T.String({ pattern: BRANCH, hint: BRANCH_HINT }), {
              default: ["staging"],
              description: "pushed branches that deploy the canary (tested by test/staging)",
            }),
          },
          "which pushed branch deploys where; any other branch is stored only",
        ),
        repos: T.Array(T.String({ pattern: REPO_NAME, hint: REPO_HINT }), {
          default: ["app"],
          minItems: 1,
          description:
            "the repositories the receiver serves; any other name is 404 (DROPSHIP_REPO, default app, deploys)",
        }),
        allow_force_push: T.Boolean({
          default: false,
          description: "allow rewriting a deploying branch",
        }),
        lock_timeout: Duration("10m", "a push waits this long for another deploy"),
        health_timeout: Duration("60s", "a host must be healthy within this", true),
        push_limit: T.Integer({
          minimum: 1,
          maximum: 1048576,
          default: 1024,
          description:
            "MiB a push may send (git's receive.maxInputSize): a bigger one is refused as it arrives, and nothing of it is kept",
        }),
        keep_releases: T.Integer({
          minimum: 2,
          maximum: 1000,
          default: 5,
          description:
            "the newest releases the control host keeps to give new hosts (each ~330 MB); older ones go after each push, except those the hosts run or keep to roll back to",
        }),
        step_timeout: Duration(
          "15m",
          "a step of the test gate (install, check, test, build) still running after this is stopped and the push rejected",
          true,
        ),
        step_memory: T.Union([T.Literal("auto"), T.Integer({ minimum: 256, maximum: 1048576 })], {
          default: "auto",
          description:
            "MiB of memory each process of the pushed code may reserve (RLIMIT_DATA: past it an allocation fails; Bun reserves ahead, so it fills about half), and the most its /tmp holds; auto: half the control host's memory",
        }),
        step_disk: T.Union([T.Literal("auto"), T.Integer({ minimum: 64, maximum: 1073741824 })], {
          default: "auto",
          description:
            "MiB the gate's workspace may hold (no one file larger: RLIMIT_FSIZE), and half the filesystem's free files; past it the step is stopped and the push rejected; auto: half the space free under the work folder when the push begins",
        }),
        install_hosts: T.Array(T.String({ pattern: INSTALL_HOST, hint: INSTALL_HOST_HINT }), {
          default: ["registry.npmjs.org"],
          maxItems: 64,
          description:
            "the package registries the test gate's install may reach (host, or host:port when not 443), over HTTPS through a door that refuses every other host; the pushed code has no other network",
        }),
        step_processes: T.Integer({
          minimum: 64,
          maximum: 65536,
          default: 1024,
          description:
            "processes and threads the pushed code may run at once, as the build user (a fork bomb stops there)",
        }),
        hooks: Section(
          {
            pre_deploy: T.String({
              default: "",
              description:
                "shell command run on the control host once a release passed its gate, before any host changes; a non-zero exit refuses the deploy",
            }),
            post_deploy: T.String({
              default: "",
              description:
                "shell command run on the control host once a release is live on every host of its role, and after a rollback; its failure is said, not fatal",
            }),
            timeout: Duration("5m", "a hook still running after this is stopped (and fails)", true),
          },
          "commands around each deploy, given DROPSHIP_COMMAND, _ROLE, _BRANCH, _COMMIT, _VERSION, _PERFORMER, _HOSTS and _RUNTIME; empty: none",
        ),
        tls: Section(
          {
            certificate_file: T.String({
              default: "",
              description:
                "PEM chain the receiver serves git over HTTPS with (with key_file); read again when it changes",
            }),
            key_file: T.String({ default: "", description: "its PEM private key" }),
          },
          "HTTPS for git pushes; empty: plain HTTP",
        ),
      },
      "git push pipeline",
    ),
    backup: Section(
      {
        enabled: T.Boolean({
          default: false,
          description: "let the receiver take a backup set every backup/every (bun run backup)",
        }),
        every: Duration("24h", "time between two backups (counted from the newest set)", true),
        keep: T.Integer({
          minimum: 1,
          maximum: 1000,
          default: 14,
          description: "backup sets kept, newest first; older ones are removed",
        }),
        after: T.String({
          default: "",
          description:
            "shell command run on the control host after each set is taken, to copy it off the machine (told DROPSHIP_BACKUP_SET, DROPSHIP_BACKUP_DIR, DROPSHIP_BACKUPS); its failure fails the backup, and the set stays",
        }),
        after_timeout: Duration(
          "30m",
          "backup/after still running after this is stopped (and fails)",
          true,
        ),
      },
      "backups of Redis, the GitOps inventory, app.env, users and the receiver's repositories into DROPSHIP_BACKUPS; the receiver looks once a minute",
    ),
    jobs: T.Array(
      T.Object(
        {
          name: T.String({
            pattern: SLUG,
            hint: "use lowercase letters, digits and dashes, like nightly-report",
            description: "the job's name, in logs, mails and bun run jobs run NAME",
          }),
          schedule: T.String({
            minLength: 1,
            description:
              "when it runs, on time_zone's clock: five cron fields (*/15 * * * *, 30 3 * * mon-fri) or @hourly, @daily, @weekly, @monthly, @yearly",
          }),
          time_zone: T.String({
            default: "UTC",
            description:
              "the clock its schedule is read on, an IANA name like Europe/Berlin; on a night that clock changes, a job at set hours still runs once",
          }),
          command: T.String({
            minLength: 1,
            description:
              "shell command run on one host of its role as the app's user, in the release that runs there, with the app's settings",
          }),
          role: T.Union([T.Literal("production"), T.Literal("staging")], {
            default: "production",
            description: "the role whose hosts run it (one host a run)",
          }),
          timeout: Duration("10m", "a run still going after this is stopped, and fails", true),
        },
        { additionalProperties: false, description: "a command run on a schedule" },
      ),
      {
        default: [],
        maxItems: 20,
        description:
          "commands the receiver runs on a schedule, like cron, each on one app host (bun run jobs lists them and runs one now)",
      },
    ),
    gitops: Section(
      {
        repo: T.String({
          minLength: 1,
          default: ".dropship/inventory",
          description: "path of the inventory repository",
        }),
        remote: T.Optional(T.String({ minLength: 1, description: "URL it is pushed to" })),
      },
      "the GitOps inventory",
    ),
  },
  { additionalProperties: false },
);

export type ConfigFile = Static<typeof ConfigSchema>;

/** The config after validation: durations are milliseconds. */
export type Config = Resolved<ConfigFile>;
type Resolved<V> = V extends DurationText
  ? number
  : V extends readonly (infer E)[]
    ? Resolved<E>[]
    : V extends object
      ? { [K in keyof V]: Resolved<V[K]> }
      : V;

export const ROLES = ["proxy", "redis", "production", "staging"] as const;
export type RoleName = (typeof ROLES)[number];
