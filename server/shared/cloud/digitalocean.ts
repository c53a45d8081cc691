import { createApiClient } from "dots-wrapper";
import type { FirewallRequest } from "./firewall.ts";

export interface DropletSpec {
  name: string;
  region: string;
  size: string;
  image: string;
  sshKeys: (number | string)[];
  tags: string[];
  userData?: string;
  vpcUuid?: string;
}

export interface Droplet {
  id: number;
  name: string;
  status: string;
  tags: string[];
  region: string;
  size: string;
  /** the private address when there is one, else the public one */
  ip: string | undefined;
  publicIp: string | undefined;
  createdAt: string;
  priceHourly: number;
}

/** A load balancer as dropship asks for it (POST and PUT /v2/load_balancers). */
export interface LoadBalancerRequest {
  name: string;
  region: string;
  tag: string;
  vpc_uuid?: string;
  forwarding_rules: {
    entry_protocol: string;
    entry_port: number;
    target_protocol: string;
    target_port: number;
    tls_passthrough?: boolean;
  }[];
  /** every rule's connections start with a PROXY protocol header naming the visitor */
  enable_proxy_protocol?: boolean;
  health_check: {
    protocol: string;
    port: number;
    path: string;
    check_interval_seconds: number;
    response_timeout_seconds: number;
    healthy_threshold: number;
    unhealthy_threshold: number;
  };
}

export interface LoadBalancer {
  id: string;
  name: string;
  status: string;
  /** its public address, once active */
  ip: string;
  dropletIds: number[];
}

/** A DigitalOcean call that failed: what was being done, the status and the API's message. */
export class CloudError extends Error {
  constructor(
    readonly action: string,
    readonly status: number | undefined,
    readonly apiId: string | undefined,
    detail: string,
  ) {
    super(`${action}: ${status ? `${status} ${apiId ?? ""}`.trim() : "no answer"} — ${detail}`);
    this.name = "CloudError";
  }
}

export interface ProviderOptions {
  token: string;
  /** DIGITALOCEAN_API_URL: the local emulator in tests and the demo */
  apiUrl?: string;
  requestTimeoutMs?: number;
  /** tries for a rate-limited or failing call before giving up */
  attempts?: number;
  /** longest wait for a rate limit to reset before giving up */
  maxRateWaitMs?: number;
  log?: (line: string) => void;
}

interface AxiosLikeError {
  code?: string;
  message: string;
  response?: {
    status: number;
    data?: { id?: string; message?: string };
    headers?: Record<string, string>;
  };
}

/**
 * DigitalOcean through dots-wrapper: create, read, list by tag and delete droplets, with
 * retries on 429 (honouring Retry-After and RateLimit-Reset) and 5xx, and errors that name
 * the droplet and carry the API's message — never the token.
 */
export class DigitalOcean {
  private readonly api: ReturnType<typeof createApiClient>;

  constructor(private readonly options: ProviderOptions) {
    this.api = createApiClient({
      token: options.token,
      endpoint: options.apiUrl,
      requestTimeoutInMs: options.requestTimeoutMs ?? 30_000,
    });
  }

  /** The account key with this public key, registered first if it is not yet. */
  async ensureSshKey(
    name: string,
    publicKey: string,
  ): Promise<{ id: number; fingerprint: string }> {
    const wanted = publicKey.trim().split(/\s+/).slice(0, 2).join(" ");
    const listed = await this.call(`list SSH keys`, () =>
      this.api.sshKey.listSshKeys({ per_page: 200 }),
    );
    const found = listed.data.ssh_keys.find(
      (k) => k.public_key.trim().split(/\s+/).slice(0, 2).join(" ") === wanted,
    );
    if (found) return { id: found.id, fingerprint: found.fingerprint };
    const created = await this.call(`register SSH key ${name}`, () =>
      this.api.sshKey.createSshKey({ name, public_key: publicKey.trim() }),
    );
    return { id: created.data.ssh_key.id, fingerprint: created.data.ssh_key.fingerprint };
  }

  async createDroplet(spec: DropletSpec): Promise<Droplet> {
    const response = await this.call(`create droplet ${spec.name}`, () =>
      this.api.droplet.createDroplet({
        name: spec.name,
        region: spec.region,
        size: spec.size,
        image: spec.image,
        ssh_keys: spec.sshKeys,
        tags: spec.tags,
        user_data: spec.userData,
        vpc_uuid: spec.vpcUuid,
        monitoring: false,
        backups: false,
        ipv6: false,
      }),
    );
    return toDroplet(response.data.droplet);
  }

  async getDroplet(id: number, name = String(id)): Promise<Droplet> {
    const response = await this.call(`read droplet ${name}`, () =>
      this.api.droplet.getDroplet({ droplet_id: id }),
    );
    return toDroplet(response.data.droplet);
  }

  /**
   * Resizes a droplet (`POST /v2/droplets/:id/actions`, type resize): its CPUs and memory, and
   * its disk too with `disk` (which cannot be undone). Answers once the action has completed.
   */
  async resizeDroplet(
    droplet: Pick<Droplet, "id" | "name">,
    size: string,
    options: { disk?: boolean; timeoutMs?: number; pollMs?: number } = {},
  ): Promise<Droplet> {
    const response = await this.call(`resize droplet ${droplet.name} to ${size}`, () =>
      this.api.droplet.resizeDroplet({ droplet_id: droplet.id, size, disk: options.disk }),
    );
    const deadline = Date.now() + (options.timeoutMs ?? 300_000);
    for (let action = response.data.action; ; ) {
      if (action.status === "completed") return this.getDroplet(droplet.id, droplet.name);
      if (action.status === "errored" || Date.now() > deadline)
        throw new CloudError(
          `resize droplet ${droplet.name} to ${size}`,
          undefined,
          undefined,
          action.status === "errored"
            ? `action ${action.id} errored; the droplet keeps its size (see its actions in the control panel)`
            : `action ${action.id} still ${action.status}; it may yet finish — look in the control panel`,
        );
      await Bun.sleep(options.pollMs ?? 2_000);
      action = (
        await this.call(`read action ${action.id}`, () =>
          this.api.action.getAction({ action_id: action.id }),
        )
      ).data.action;
    }
  }

  /** Every droplet with the tag, across pages. */
  async listByTag(tag: string): Promise<Droplet[]> {
    const out: Droplet[] = [];
    for (let page = 1; ; page++) {
      const response = await this.call(`list droplets tagged ${tag}`, () =>
        this.api.droplet.listDroplets({ tag_name: tag, page, per_page: 100 }),
      );
      out.push(...response.data.droplets.map(toDroplet));
      if (!response.data.links?.pages?.next) return out;
    }
  }

  /** The firewall of this name made or brought up to date (PUT replaces it whole). */
  async ensureFirewall(firewall: FirewallRequest): Promise<{ id: string; created: boolean }> {
    const listed = await this.call("list firewalls", () =>
      this.api.firewall.listFirewalls({ per_page: 200 }),
    );
    const found = listed.data.firewalls.find((f) => f.name === firewall.name);
    if (found?.id) {
      await this.call(`update firewall ${firewall.name}`, () =>
        this.api.firewall.updateFirewall({ id: found.id, droplet_ids: [], ...firewall }),
      );
      return { id: found.id, created: false };
    }
    const created = await this.call(`create firewall ${firewall.name}`, () =>
      this.api.firewall.createFirewall({ droplet_ids: [], ...firewall }),
    );
    return { id: created.data.firewall.id as string, created: true };
  }

  /** The load balancer of this name made, or brought up to date (PUT replaces it whole). */
  async ensureLoadBalancer(
    request: LoadBalancerRequest,
  ): Promise<{ balancer: LoadBalancer; created: boolean }> {
    const listed = await this.call("list load balancers", () =>
      this.api.loadBalancer.listLoadBalancers({ per_page: 200 }),
    );
    const found = listed.data.load_balancers.find((b) => b.name === request.name);
    if (found) {
      const updated = await this.call(`update load balancer ${request.name}`, () =>
        this.api.loadBalancer.updateLoadBalancer({ load_balancer_id: found.id, ...request }),
      );
      return { balancer: toLoadBalancer(updated.data.load_balancer), created: false };
    }
    const created = await this.call(`create load balancer ${request.name}`, () =>
      this.api.loadBalancer.createLoadBalancer(request),
    );
    return { balancer: toLoadBalancer(created.data.load_balancer), created: true };
  }

  async getLoadBalancer(id: string, name = id): Promise<LoadBalancer> {
    const response = await this.call(`read load balancer ${name}`, () =>
      this.api.loadBalancer.getLoadBalancer({ load_balancer_id: id }),
    );
    return toLoadBalancer(response.data.load_balancer);
  }

  /** Polls until the load balancer is active with an address, or fails naming it. */
  async waitLoadBalancerActive(
    balancer: Pick<LoadBalancer, "id" | "name">,
    timeoutMs: number,
    pollMs = 1000,
  ): Promise<LoadBalancer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = await this.getLoadBalancer(balancer.id, balancer.name);
      if (now.status === "active" && now.ip) return now;
      if (Date.now() + pollMs > deadline)
        throw new CloudError(
          `wait for load balancer ${balancer.name}`,
          undefined,
          undefined,
          `still ${now.status} after ${timeoutMs} ms; DigitalOcean can take minutes — run setup again later`,
        );
      await Bun.sleep(pollMs);
    }
  }

  /** Adds a zone to the account's DNS (a domain the user has moved to DigitalOcean). */
  async createDomain(name: string): Promise<void> {
    await this.call(`add the domain ${name}`, () => this.api.domain.createDomain({ name }));
  }

  /**
   * Points `domain` (a name in a zone on DigitalOcean DNS) at `address` with one A record:
   * created, or the existing ones changed and duplicates removed. "not-hosted" when no zone of
   * the account holds the name, so the caller can say which records to create by hand.
   */
  async pointDomain(
    domain: string,
    address: string,
  ): Promise<"created" | "updated" | "unchanged" | "not-hosted"> {
    const zones = await this.call("list domains", () =>
      this.api.domain.listDomains({ per_page: 200 }),
    );
    const zone = zones.data.domains
      .map((d) => d.name)
      .filter((name) => domain === name || domain.endsWith(`.${name}`))
      .sort((a, b) => b.length - a.length)[0];
    if (!zone) return "not-hosted";
    const label = domain === zone ? "@" : domain.slice(0, -zone.length - 1);
    const listed = await this.call(`list the A records of ${domain}`, () =>
      this.api.domain.listDomainRecords({
        domain_name: zone,
        type: "A",
        name: domain,
        per_page: 200,
      }),
    );
    const [first, ...extra] = listed.data.domain_records.filter((r) => r.name === label);
    for (const record of extra)
      await this.call(`delete a second A record of ${domain}`, () =>
        this.api.domain.deleteDomainRecord({ domain_name: zone, domain_record_id: record.id }),
      );
    if (!first) {
      await this.call(`point ${domain} at ${address}`, () =>
        this.api.domain.createDomainRecord({
          domain_name: zone,
          type: "A",
          name: label,
          data: address,
          ttl: 300,
        } as Parameters<typeof this.api.domain.createDomainRecord>[0]),
      );
      return "created";
    }
    if (first.data === address && extra.length === 0) return "unchanged";
    await this.call(`point ${domain} at ${address}`, () =>
      this.api.domain.updateDomainRecord({
        domain_name: zone,
        domain_record_id: first.id,
        type: "A",
        name: label,
        data: address,
      } as Parameters<typeof this.api.domain.updateDomainRecord>[0]),
    );
    return "updated";
  }

  async deleteDroplet(id: number, name = String(id)): Promise<void> {
    try {
      await this.call(`delete droplet ${name}`, () =>
        this.api.droplet.deleteDroplet({ droplet_id: id }),
      );
    } catch (error) {
      if (error instanceof CloudError && error.status === 404) return;
      throw error;
    }
  }

  /** Polls until the droplet is active with an address, or fails naming it after `timeoutMs`. */
  async waitActive(
    droplet: Pick<Droplet, "id" | "name">,
    timeoutMs: number,
    pollMs = 500,
  ): Promise<Droplet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = await this.getDroplet(droplet.id, droplet.name);
      if (now.status === "active" && now.ip) return now;
      if (Date.now() + pollMs > deadline) {
        throw new CloudError(
          `wait for droplet ${droplet.name}`,
          undefined,
          undefined,
          `still ${now.status} after ${timeoutMs} ms; it may yet come up — look in the control panel, or delete it`,
        );
      }
      await Bun.sleep(pollMs);
    }
  }

  private async call<T>(action: string, request: () => Promise<T>): Promise<T> {
    const attempts = this.options.attempts ?? 5;
    let backoff = 500;
    for (let attempt = 1; ; attempt++) {
      try {
        return await request();
      } catch (raw) {
        const error = raw as AxiosLikeError;
        const status = error.response?.status;
        const apiId = error.response?.data?.id;
        const message =
          error.response?.data?.message ??
          describeNetworkError(error, this.options.requestTimeoutMs ?? 30_000);
        const retryable =
          status === 429 || (status !== undefined && status >= 500) || status === undefined;
        if (!retryable || attempt >= attempts) throw new CloudError(action, status, apiId, message);
        const wait = status === 429 ? this.rateWait(error.response?.headers ?? {}) : backoff;
        if (wait === undefined)
          throw new CloudError(
            action,
            status,
            apiId,
            `${message} (the limit resets too late to wait for)`,
          );
        this.options.log?.(
          `${action}: ${status ?? "no answer"}, retrying in ${wait} ms (attempt ${attempt}/${attempts})`,
        );
        await Bun.sleep(wait);
        backoff = Math.min(backoff * 2, 10_000);
      }
    }
  }

  private rateWait(headers: Record<string, string>): number | undefined {
    const retryAfter = Number(headers["retry-after"]);
    const reset = Number(headers["ratelimit-reset"]);
    const ms =
      Number.isFinite(retryAfter) && retryAfter > 0
        ? retryAfter * 1000
        : Number.isFinite(reset)
          ? reset * 1000 - Date.now()
          : 1000;
    const max = this.options.maxRateWaitMs ?? 60_000;
    return ms > max ? undefined : Math.max(0, ms);
  }
}

function describeNetworkError(error: AxiosLikeError, timeoutMs: number): string {
  if (error.code === "ECONNABORTED" || /timeout/i.test(error.message))
    return `no answer within ${timeoutMs} ms`;
  if (error.code === "ECONNREFUSED") return "connection refused — is DIGITALOCEAN_API_URL right?";
  return error.message;
}

interface ApiDroplet {
  id: number;
  name: string;
  status: string;
  tags: string[];
  created_at: string;
  region: { slug: string };
  size_slug?: string;
  size?: { slug: string; price_hourly?: number };
  networks: { v4: { ip_address: string; type: string }[] };
}

function toDroplet(raw: unknown): Droplet {
  const d = raw as ApiDroplet;
  const v4 = d.networks?.v4 ?? [];
  return {
    id: d.id,
    name: d.name,
    status: d.status,
    tags: d.tags ?? [],
    region: d.region?.slug ?? "",
    size: d.size_slug ?? d.size?.slug ?? "",
    ip:
      v4.find((n) => n.type === "private")?.ip_address ??
      v4.find((n) => n.type === "public")?.ip_address,
    publicIp: v4.find((n) => n.type === "public")?.ip_address,
    createdAt: d.created_at,
    priceHourly: d.size?.price_hourly ?? 0,
  };
}

function toLoadBalancer(raw: {
  id: string;
  name: string;
  status: string;
  ip: string;
  droplet_ids: number[];
}): LoadBalancer {
  return {
    id: raw.id,
    name: raw.name,
    status: raw.status,
    ip: raw.ip,
    dropletIds: raw.droplet_ids ?? [],
  };
}

/** The provider as the environment configures it: DIGITALOCEAN_TOKEN and DIGITALOCEAN_API_URL. */
export function providerFromEnv(
  env: Record<string, string | undefined> = process.env,
  log?: (line: string) => void,
): DigitalOcean {
  const token = env.DIGITALOCEAN_TOKEN;
  if (!token) {
    throw new CloudError(
      "connect to DigitalOcean",
      undefined,
      undefined,
      "DIGITALOCEAN_TOKEN is not set — put it in the environment or .env",
    );
  }
  return new DigitalOcean({ token, apiUrl: env.DIGITALOCEAN_API_URL || undefined, log });
}
