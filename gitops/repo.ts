import fs from "node:fs";
import { join } from "node:path";
import git from "isomorphic-git";
import { SECRET_VARIABLES } from "../server/shared/secrets.ts";
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
export class InventoryRepo {
  constructor(readonly dir: string) {}

  async read(): Promise<FleetInventory> {
    const file = join(this.dir, FILE);
    return fs.existsSync(file) ? fromYaml(fs.readFileSync(file, "utf8")) : EMPTY;
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
    return git.commit({ fs, dir: this.dir, message, author: AUTHOR, committer: AUTHOR });
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
