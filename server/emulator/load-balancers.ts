import { REGIONS } from "./catalog.ts";

export interface ForwardingRule {
  entry_protocol: "http" | "https" | "http2" | "tcp";
  entry_port: number;
  target_protocol: "http" | "https" | "http2" | "tcp";
  target_port: number;
  certificate_id: string;
  tls_passthrough: boolean;
}

export interface HealthCheck {
  protocol: "http" | "https" | "tcp";
  port: number;
  path: string;
  check_interval_seconds: number;
  response_timeout_seconds: number;
  healthy_threshold: number;
  unhealthy_threshold: number;
}

/** What a load balancer is asked to be: the fields POST and PUT take. */
export interface LoadBalancerSettings {
  name: string;
  region: string;
  forwarding_rules: ForwardingRule[];
  health_check: HealthCheck;
  redirect_http_to_https: boolean;
  enable_proxy_protocol: boolean;
  enable_backend_keepalive: boolean;
  http_idle_timeout_seconds: number;
  /** its droplets are those with this tag… */
  tag: string;
  /** …or these, never both */
  droplet_ids: number[];
  vpc_uuid: string;
}

/** A target as the load balancer reaches it: in the VPC. */
export interface Target {
  id: number;
  privateIp: string;
  tags: string[];
}

type Checked<T> = { ok: true; value: T } | { ok: false; message: string };

const PROTOCOLS = ["http", "https", "http2", "tcp"] as const;
const DEFAULT_VPC = "5a4981aa-9653-4bd1-bef5-d6bff52042e4";

/** DigitalOcean's defaults for a health check, and the ranges the API accepts. */
const CHECK_DEFAULTS: HealthCheck = {
  protocol: "http",
  port: 80,
  path: "/",
  check_interval_seconds: 10,
  response_timeout_seconds: 5,
  healthy_threshold: 3,
  unhealthy_threshold: 5,
};
const CHECK_RANGES = {
  check_interval_seconds: [3, 300],
  response_timeout_seconds: [3, 300],
  healthy_threshold: [2, 10],
  unhealthy_threshold: [2, 10],
} as const;

const isPort = (n: unknown): n is number =>
  Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65535;

/**
 * A POST or PUT /v2/load_balancers body checked as the API checks it, with its defaults filled
 * in. TLS termination (an https rule with a certificate_id) is refused: the emulator's load
 * balancers pass TLS through, which is what dropship asks for.
 */
export function checkLoadBalancerBody(
  body: unknown,
  dropletExists: (id: number) => boolean,
): Checked<LoadBalancerSettings> {
  const b = (body ?? {}) as Record<string, unknown>;
  const fail = (message: string): Checked<LoadBalancerSettings> => ({ ok: false, message });
  const name = typeof b.name === "string" ? b.name : "";
  if (!/^[a-zA-Z0-9][a-zA-Z0-9.-]{0,254}$/.test(name))
    return fail("name must be present and contain only letters, digits, dots and dashes");
  const region = typeof b.region === "string" ? b.region : "";
  if (!(region in REGIONS)) return fail(`region ${JSON.stringify(region)} is not a valid region`);
  if (!Array.isArray(b.forwarding_rules) || b.forwarding_rules.length === 0)
    return fail("forwarding_rules must contain at least one rule");
  const rules: ForwardingRule[] = [];
  for (const raw of b.forwarding_rules as Record<string, unknown>[]) {
    const entry = raw?.entry_protocol as ForwardingRule["entry_protocol"];
    const target = raw?.target_protocol as ForwardingRule["target_protocol"];
    if (!PROTOCOLS.includes(entry) || !PROTOCOLS.includes(target))
      return fail(`forwarding rule protocols must be one of ${PROTOCOLS.join(", ")}`);
    if (!isPort(raw.entry_port) || !isPort(raw.target_port))
      return fail("forwarding rule ports must be integers from 1 to 65535");
    const passthrough = raw.tls_passthrough === true;
    const certificate = typeof raw.certificate_id === "string" ? raw.certificate_id : "";
    if (passthrough && (entry !== "https" || target !== "https"))
      return fail("tls_passthrough requires https as both entry and target protocol");
    if (passthrough && certificate)
      return fail("a forwarding rule cannot have both tls_passthrough and a certificate_id");
    if ((entry === "https" || entry === "http2") && !passthrough)
      return fail(
        "https forwarding rules need tls_passthrough in this emulator (it does not terminate TLS with certificate_id)",
      );
    if (rules.some((r) => r.entry_port === raw.entry_port))
      return fail(`entry_port ${raw.entry_port} is used by more than one forwarding rule`);
    rules.push({
      entry_protocol: entry,
      entry_port: raw.entry_port as number,
      target_protocol: target,
      target_port: raw.target_port as number,
      certificate_id: certificate,
      tls_passthrough: passthrough,
    });
  }
  const given = (b.health_check ?? {}) as Record<string, unknown>;
  const check: HealthCheck = { ...CHECK_DEFAULTS };
  if (given.protocol !== undefined) {
    if (!["http", "https", "tcp"].includes(given.protocol as string))
      return fail("health_check protocol must be http, https or tcp");
    check.protocol = given.protocol as HealthCheck["protocol"];
  }
  if (given.port !== undefined) {
    if (!isPort(given.port)) return fail("health_check port must be an integer from 1 to 65535");
    check.port = given.port;
  }
  if (given.path !== undefined) {
    if (typeof given.path !== "string" || !/^\/[\x21-\x7e]*$/.test(given.path))
      return fail("health_check path must start with / and hold no spaces");
    check.path = given.path;
  }
  for (const [field, [min, max]] of Object.entries(CHECK_RANGES) as [
    keyof typeof CHECK_RANGES,
    readonly [number, number],
  ][]) {
    const value = given[field];
    if (value === undefined) continue;
    if (!Number.isInteger(value) || (value as number) < min || (value as number) > max)
      return fail(`health_check ${field} must be an integer from ${min} to ${max}`);
    check[field] = value as number;
  }
  const tag = typeof b.tag === "string" ? b.tag : "";
  const ids = Array.isArray(b.droplet_ids) ? b.droplet_ids : [];
  if (tag && ids.length > 0) return fail("droplet_ids and tag are mutually exclusive; give one");
  for (const id of ids)
    if (!Number.isInteger(id) || !dropletExists(id as number))
      return fail(`droplet ${JSON.stringify(id)} does not exist`);
  const idle = b.http_idle_timeout_seconds ?? 60;
  if (!Number.isInteger(idle) || (idle as number) < 30 || (idle as number) > 600)
    return fail("http_idle_timeout_seconds must be an integer from 30 to 600");
  return {
    ok: true,
    value: {
      name,
      region,
      forwarding_rules: rules,
      health_check: check,
      redirect_http_to_https: b.redirect_http_to_https === true,
      enable_proxy_protocol: b.enable_proxy_protocol === true,
      enable_backend_keepalive: b.enable_backend_keepalive === true,
      http_idle_timeout_seconds: idle as number,
      tag,
      droplet_ids: tag ? [] : (ids as number[]),
      vpc_uuid: typeof b.vpc_uuid === "string" ? b.vpc_uuid : DEFAULT_VPC,
    },
  };
}

/** The droplets a load balancer sends to: those with its tag, or those it lists. */
export function targetsOf(settings: LoadBalancerSettings, droplets: readonly Target[]): Target[] {
  return settings.tag
    ? droplets.filter((d) => d.tags.includes(settings.tag))
    : droplets.filter((d) => settings.droplet_ids.includes(d.id));
}

export interface HaproxyPaths {
  /** the admin socket, which hands the listeners to the next worker on a reload */
  socket: string;
  /** where server states are kept across a reload */
  stateFile: string;
}

/**
 * The load balancer as an HAProxy configuration: a frontend per forwarding rule on the public
 * address, round robin over the targets' private addresses, DigitalOcean's health check as
 * HAProxy's (interval, timeout, rise, fall), and a failed connection retried on another target.
 * HTTP rules add X-Forwarded-For, -Proto and -Port as DigitalOcean's do; TLS passthrough and
 * tcp rules forward bytes, with the PROXY protocol when enabled.
 */
export function haproxyConfig(
  settings: LoadBalancerSettings,
  address: string,
  targets: readonly Target[],
  paths: HaproxyPaths,
): string {
  const check = settings.health_check;
  const lines = [
    "# written by the dropship emulator from the load balancer's API fields",
    "global",
    "  maxconn 4096",
    `  stats socket ${paths.socket} mode 600 level admin expose-fd listeners`,
    `  server-state-file ${paths.stateFile}`,
    "defaults",
    "  load-server-state-from-file global",
    "  timeout connect 3s",
    `  timeout client ${settings.http_idle_timeout_seconds}s`,
    `  timeout server ${settings.http_idle_timeout_seconds}s`,
    `  timeout check ${check.response_timeout_seconds}s`,
    "  retries 3",
    "  option redispatch",
    `  default-server inter ${check.check_interval_seconds}s fall ${check.unhealthy_threshold} rise ${check.healthy_threshold}`,
  ];
  settings.forwarding_rules.forEach((rule, i) => {
    const http = rule.entry_protocol === "http";
    const mode = http ? "http" : "tcp";
    lines.push(`frontend rule${i}`, `  bind ${address}:${rule.entry_port}`, `  mode ${mode}`);
    if (http) {
      lines.push(
        "  option forwardfor",
        "  http-request set-header X-Forwarded-Proto http",
        `  http-request set-header X-Forwarded-Port ${rule.entry_port}`,
      );
      if (settings.redirect_http_to_https) lines.push("  http-request redirect scheme https");
      if (!settings.enable_backend_keepalive) lines.push("  option http-server-close");
    }
    lines.push(
      `  default_backend rule${i}`,
      `backend rule${i}`,
      `  mode ${mode}`,
      "  balance roundrobin",
    );
    // one health check per target, as DigitalOcean's: the first rule's servers are checked,
    // the other rules' servers follow them (`track`), so every port turns up and down together
    const checked = i === 0;
    if (checked && check.protocol !== "tcp")
      lines.push("  option httpchk", `  http-check send meth GET uri ${check.path}`);
    const serverOptions = (target: Target) =>
      [
        ...(checked
          ? [
              `check port ${check.port}`,
              ...(check.protocol === "https" ? ["check-ssl verify none"] : []),
            ]
          : [`track rule0/droplet-${target.id}`]),
        // a target that fails its checks gets no new connections and keeps those it has, as
        // DigitalOcean's "stops sending traffic" (killing them cut requests in flight on a sick
        // but working target); a deleted droplet's are closed when it goes (see balancer.ts)
        ...(settings.enable_proxy_protocol ? ["send-proxy"] : []),
      ].join(" ");
    for (const target of targets)
      lines.push(
        `  server droplet-${target.id} ${target.privateIp}:${rule.target_port} ${serverOptions(target)}`,
      );
  });
  return `${lines.join("\n")}\n`;
}
