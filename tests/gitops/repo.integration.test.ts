import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { addHost, EMPTY, removeHost } from "../../gitops/model.ts";
import { InventoryRepo } from "../../gitops/repo.ts";
import { gitopsInventories } from "../../pipeline/fleet.ts";
import { startServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";

const host = {
  name: "shop-production-3",
  role: "production" as const,
  dropletId: 42,
  address: "10.77.0.14",
  region: "nyc3",
  size: "s-1vcpu-1gb",
  created: "2026-11-26T09:00:00Z",
};

test("every change is a commit by dropship, and git log reads as the fleet's history", async () => {
  const dir = join(tempDir(), "inventory");
  const repo = new InventoryRepo(dir);
  await repo.commit(addHost(EMPTY, host), "scale out: proxy cpu 78% > 50% for 60s");
  await repo.commit(
    removeHost(await repo.read(), host.name),
    "scale in: proxy cpu 12% < 20% for 60s",
  );
  expect((await repo.history()).map((c) => c.message)).toEqual([
    "scale in: proxy cpu 12% < 20% for 60s",
    "scale out: proxy cpu 78% > 50% for 60s",
  ]);
  const log = Bun.spawnSync(["git", "-C", dir, "log", "--format=%an <%ae>|%s"])
    .stdout.toString()
    .trim()
    .split("\n");
  expect(log).toEqual([
    "dropship <dropship@localhost>|scale in: proxy cpu 12% < 20% for 60s",
    "dropship <dropship@localhost>|scale out: proxy cpu 78% > 50% for 60s",
  ]);
  expect(Bun.spawnSync(["git", "-C", dir, "fsck"]).exitCode).toBe(0);
  const first = Bun.spawnSync(["git", "-C", dir, "show", "HEAD~1:inventory.yml"]).stdout.toString();
  expect(first).toContain("shop-production-3:");
  expect(first).toContain("droplet_id: 42");
});

const named = (name: string) => ({ ...host, name });

test("edits finishing together both land, each on the other's result", async () => {
  const repo = new InventoryRepo(join(tempDir(), "inventory"));
  await repo.commit(addHost(EMPTY, named("shop-proxy-1")), "setup");
  // a healed proxy and a scale-out commit at the same moment
  await Promise.all([
    repo.edit(
      (inventory) => addHost(removeHost(inventory, "shop-proxy-1"), named("shop-proxy-2")),
      "heal: replaced shop-proxy-1 (gone from the cloud API) with shop-proxy-2",
    ),
    repo.edit((inventory) => addHost(inventory, named("shop-production-3")), "scale out: added"),
  ]);
  expect((await repo.read()).hosts.map((h) => h.name).sort()).toEqual([
    "shop-production-3",
    "shop-proxy-2",
  ]);
  expect((await repo.history()).map((c) => c.message)).toEqual([
    "scale out: added",
    "heal: replaced shop-proxy-1 (gone from the cloud API) with shop-proxy-2",
    "setup",
  ]);
});

test("an inventory holding a secret from the environment is never committed", async () => {
  const repo = new InventoryRepo(join(tempDir(), "inventory"));
  const leaky = addHost(EMPTY, { ...host, size: "dop_v1_secret_token_value" });
  await expect(
    repo.commit(leaky, "oops", { DIGITALOCEAN_TOKEN: "dop_v1_secret_token_value" }),
  ).rejects.toThrow(
    "refusing to commit the inventory: it contains the value of DIGITALOCEAN_TOKEN",
  );
  expect(await repo.history()).toEqual([]);
});

test("Ansible reads its inventory from the repository, completed by this machine's connection", async () => {
  const dir = tempDir();
  const repo = new InventoryRepo(join(dir, "inventory"));
  await repo.commit(
    addHost(addHost(EMPTY, host), {
      ...host,
      name: "shop-staging-1",
      role: "staging",
      dropletId: 43,
    }),
    "two hosts",
  );
  const files = gitopsInventories(
    repo.dir,
    { privateKeyFile: "/keys/id", knownHostsFile: "/keys/known_hosts" },
    join(dir, "work"),
  );
  const listed = Bun.spawnSync(
    ["ansible-inventory", ...files.flatMap((f) => ["-i", f]), "--list"],
    {
      stderr: "pipe",
    },
  );
  expect(listed.stderr.toString()).not.toContain("WARNING");
  const parsed = JSON.parse(listed.stdout.toString()) as {
    production: { hosts: string[] };
    staging: { hosts: string[] };
    _meta: { hostvars: Record<string, Record<string, unknown>> };
  };
  expect(parsed.production.hosts).toEqual(["shop-production-3"]);
  expect(parsed.staging.hosts).toEqual(["shop-staging-1"]);
  expect(parsed._meta.hostvars["shop-production-3"]).toMatchObject({
    ansible_host: "10.77.0.14",
    droplet_id: 42,
    region: "nyc3",
    size: "s-1vcpu-1gb",
    ansible_ssh_private_key_file: "/keys/id",
  });
  // the connection is this machine's: it never enters the repository
  expect(Bun.spawnSync(["git", "-C", repo.dir, "grep", "-q", "/keys/"]).exitCode).toBe(1);
});

test("commits are pushed to gitops/remote, and the receiver serves the inventory read-only", async () => {
  const dir = tempDir();
  const token = "gitops-token-0123456789abcdef";
  const fleetDir = join(dir, "fleet");
  // the receiver stands in for the remote the inventory is pushed to, as a repository of its own
  writeFileSync(join(dir, "dropship.yml"), "pipeline: { repos: [app, fleet] }\n");
  const receiver = await startServer("receiver", {
    DROPSHIP_ADMIN_TOKEN: token,
    DROPSHIP_REPOS: join(dir, "repos"),
    DROPSHIP_WORK: join(dir, "work"),
    DROPSHIP_GITOPS_REPO: fleetDir,
    DROPSHIP_CONFIG: join(dir, "dropship.yml"),
  });
  const remote = `http://127.0.0.1:${receiver.port}/fleet.git`;
  const failures: string[] = [];
  const repo = new InventoryRepo(fleetDir, {
    url: remote,
    token,
    onPushError: (m) => failures.push(m),
  });
  const sha = await repo.commit(addHost(EMPTY, host), "scale out: first host");
  expect(failures).toEqual([]);
  const pushed = Bun.spawnSync([
    "git",
    "--git-dir",
    join(dir, "repos/fleet.git"),
    "rev-parse",
    "main",
  ]);
  expect(pushed.stdout.toString().trim()).toBe(sha);

  // a remote that refuses: the commit is kept here, the failure said without the password
  const refused = new InventoryRepo(fleetDir, {
    url: remote,
    token: "wrong-token-0123456789",
    onPushError: (m) => failures.push(m),
  });
  const kept = await refused.commit(removeHost(await repo.read(), host.name), "scale in: empty");
  expect((await repo.history())[0]?.sha).toBe(kept);
  expect(failures).toHaveLength(1);
  expect(failures[0]).toContain(`pushing it to ${remote} failed`);
  expect(failures[0]).not.toContain("wrong-token");

  // anyone with the token can clone the fleet's history from the receiver; nobody can push it
  const clone = join(dir, "clone");
  const url = `http://ops:${token}@127.0.0.1:${receiver.port}/inventory.git`;
  expect(Bun.spawnSync(["git", "clone", "-q", url, clone]).exitCode).toBe(0);
  const log = Bun.spawnSync(["git", "-C", clone, "log", "--format=%s"]).stdout.toString();
  expect(log.trim().split("\n")).toEqual(["scale in: empty", "scale out: first host"]);
  Bun.spawnSync(["git", "-C", clone, "commit", "-q", "--allow-empty", "-m", "by hand"], {
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "x",
      GIT_AUTHOR_EMAIL: "x@x",
      GIT_COMMITTER_NAME: "x",
      GIT_COMMITTER_EMAIL: "x@x",
    },
  });
  const push = Bun.spawnSync(["git", "-C", clone, "push", "origin", "HEAD:main"], {
    stderr: "pipe",
  });
  expect(push.exitCode).not.toBe(0);
  expect((await repo.history())[0]?.sha).toBe(kept);
});
