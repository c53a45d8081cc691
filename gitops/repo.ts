import fs from "node:fs";
import { join, resolve } from "node:path";
import git from "isomorphic-git";
import http from "isomorphic-git/http/node";
import type { Config } from "../server/shared/config/schema.ts";
import { maskUrl, redact, SECRET_VARIABLES } from "../server/shared/secrets.ts";
import { EMPTY, type FleetInventory, fromYaml, toYaml } from "./model.ts";

const FILE = "inventory.yml";
const AUTHOR = { name: "dropship", email: "dropship@localhost" };

export interface Change {
  sha: string;
  message: string;
  at: string;
}

/**
 * The GitOps inventory repository, written with isomorphic-git: every change to the fleet is
 * a commit authored by dropship whose message says what and why, so `git log` is the fleet's
 * audit trail. A commit that would contain a secret from the environment is refused.
 */
export interface InventoryRemote {
  /** where every commit is pushed (gitops/remote), with no credentials in it */
  url: string;
  /** the password for it, from DROPSHIP_GITOPS_TOKEN */
  token?: string;
  /** a push that failed: the commit stays, and the next commit's push carries it too */
  onPushError?: (message: string) => void;
}

/** The edit under way on each repository, which the next one waits for. */
const EDITS = new Map<string, Promise<unknown>>();

export class InventoryRepo {
  constructor(
    readonly dir: string,
    private readonly remote?: InventoryRemote,
  ) {}

  async read(): Promise<FleetInventory> {
    const file = join(this.dir, FILE);
    return fs.existsSync(file) ? fromYaml(fs.readFileSync(file, "utf8")) : EMPTY;
  }

  /**
   * Reads the inventory, applies `change` and commits the result, one edit at a time per
   * repository in this process: a replacement and a scale-out finishing together both land,
   * neither written over the other's stale copy.
   */
  edit(
    change: (inventory: FleetInventory) => FleetInventory,
    message: string,
  ): Promise<FleetInventory> {
    const previous = EDITS.get(this.dir) ?? Promise.resolve();
    const next = previous.then(async () => {
      const edited = change(await this.read());
      await this.commit(edited, message);
      return edited;
    });
    EDITS.set(
      this.dir,
      next.catch(() => undefined),
    );
    return next;
  }

  async commit(
    inventory: FleetInventory,
    message: string,
    env: Record<string, string | undefined> = process.env,
  ): Promise<string> {
    const text = toYaml(inventory);
    for (const name of SECRET_VARIABLES) {
      const value = env[name];
      if (value && value.length >= 4 && text.includes(value)) {
        throw new Error(`refusing to commit the inventory: it contains the value of ${name}`);
      }
    }
    if (!fs.existsSync(join(this.dir, ".git"))) {
      fs.mkdirSync(this.dir, { recursive: true });
      await git.init({ fs, dir: this.dir, defaultBranch: "main" });
    }
    fs.writeFileSync(join(this.dir, FILE), text);
    await git.add({ fs, dir: this.dir, filepath: FILE });
    const sha = await git.commit({ fs, dir: this.dir, message, author: AUTHOR, committer: AUTHOR });
    if (this.remote) await this.push(this.remote);
    return sha;
  }

  private async push(remote: InventoryRemote): Promise<void> {
    const { token } = remote;
    try {
      await git.push({
        fs,
        http,
        dir: this.dir,
        url: remote.url,
        ref: "main",
        ...(token ? { onAuth: () => ({ username: "dropship", password: token }) } : {}),
      });
    } catch (error) {
      const reason = redact((error as Error).message);
      (remote.onPushError ?? console.error)(
        `the inventory commit is kept here, but pushing it to ${maskUrl(remote.url)} failed: ${reason}`,
      );
    }
  }

  async history(limit = 50): Promise<Change[]> {
    if (!fs.existsSync(join(this.dir, ".git"))) return [];
    const entries = await git.log({ fs, dir: this.dir, depth: limit });
    return entries.map((e) => ({
      sha: e.oid,
      message: e.commit.message.trim(),
      at: new Date(e.commit.author.timestamp * 1000).toISOString(),
    }));
  }
}

/** Where the deployment's inventory repository is: DROPSHIP_GITOPS_REPO, else gitops/repo. */
export function gitopsDir(
  config: Pick<Config, "gitops">,
  env: Record<string, string | undefined> = process.env,
): string {
  return resolve(env.DROPSHIP_GITOPS_REPO || config.gitops.repo);
}

/**
 * The deployment's inventory repository: DROPSHIP_GITOPS_REPO or gitops/repo, pushed after
 * every commit to gitops/remote when set (password DROPSHIP_GITOPS_TOKEN).
 */
export function inventoryRepoFor(
  config: Pick<Config, "gitops">,
  env: Record<string, string | undefined> = process.env,
  onPushError?: (message: string) => void,
): InventoryRepo {
  const dir = gitopsDir(config, env);
  const url = config.gitops.remote;
  return new InventoryRepo(
    dir,
    url ? { url, token: env.DROPSHIP_GITOPS_TOKEN || undefined, onPushError } : undefined,
  );
}
