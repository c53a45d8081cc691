import { expect, test } from "bun:test";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { addHost, EMPTY } from "../../../gitops/model.ts";
import { InventoryRepo } from "../../../gitops/repo.ts";
import { rawRequest } from "../../helpers/raw.ts";
import { startServer } from "../../helpers/server.ts";
import { fileTempDir } from "../../helpers/tmp.ts";

// What an authenticated client can and cannot make the receiver do, beyond pushing its app.
const dir = fileTempDir();
const TOKEN = "access-token-0123456789abcdef";
const repos = join(dir, "repos");
const inventory = new InventoryRepo(join(dir, "inventory"));
const host = {
  name: "shop-production-1",
  role: "production" as const,
  dropletId: 7,
  address: "10.77.0.9",
  region: "nyc3",
  size: "s-1vcpu-1gb",
  created: "2026-11-30T00:00:00Z",
};
const recorded = await inventory.commit(addHost(EMPTY, host), "scale out: first host");
writeFileSync(join(dir, "dropship.yml"), "pipeline: { repos: [app, docs] }\n");
const receiver = await startServer("receiver", {
  DROPSHIP_ADMIN_TOKEN: TOKEN,
  DROPSHIP_REPOS: repos,
  DROPSHIP_WORK: join(dir, "work"),
  DROPSHIP_GITOPS_REPO: inventory.dir,
  DROPSHIP_CONFIG: join(dir, "dropship.yml"),
});
const base = `http://127.0.0.1:${receiver.port}`;
const auth = `Basic ${Buffer.from(`ann:${TOKEN}`).toString("base64")}`;
const get = (path: string) => fetch(`${base}${path}`, { headers: { authorization: auth } });

test("the repositories named in pipeline/repos exist from the start; no other name is made", async () => {
  expect(readdirSync(repos).sort()).toEqual(["app.git", "docs.git"]);
  for (const name of ["nope", "App", "app2", "inventory2"]) {
    const response = await get(`/${name}.git/info/refs?service=git-receive-pack`);
    expect(response.status).toBe(404);
    expect(await response.text()).toContain(
      "this receiver serves app.git, docs.git (pipeline/repos in dropship.yml)",
    );
  }
  const push = Bun.spawnSync(
    ["git", "push", `http://ann:${TOKEN}@127.0.0.1:${receiver.port}/made-up.git`, "HEAD:master"],
    { cwd: import.meta.dir, stderr: "pipe" },
  );
  expect(push.exitCode).not.toBe(0);
  expect(readdirSync(repos).sort()).toEqual(["app.git", "docs.git"]);
});

test("names that try to leave the repositories' folder are not repositories", async () => {
  for (const target of [
    "/../etc.git/info/refs",
    "/%2e%2e/%2e%2e/etc/passwd.git/info/refs",
    "/app.git%2f..%2f..%2fx/info/refs",
    "/app.git/../../x/info/refs",
    "/.git/info/refs",
    "/app.git/config",
    "/app.git/hooks/pre-receive",
  ]) {
    const answer = await rawRequest(
      base,
      `GET ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nConnection: close\r\n\r\n`,
    );
    expect({ target, status: answer.split("\r\n")[0] }).toEqual({
      target,
      status: expect.stringMatching(/^HTTP\/1\.1 (400|404)/),
    });
  }
  expect(existsSync(join(dir, "x"))).toBe(false);
});

test("the inventory can be cloned and is refused to pushes by git's own setting, however asked", async () => {
  for (const query of ["git-receive-pack", "git-receive%2Dpack", "git%2Dreceive%2Dpack"]) {
    const response = await get(`/inventory.git/info/refs?service=${query}`);
    expect({ query, status: response.status }).toEqual({ query, status: 403 });
  }
  const direct = await fetch(`${base}/inventory.git/git-receive-pack`, {
    method: "POST",
    headers: { authorization: auth, "content-type": "application/x-git-receive-pack-request" },
    body: "0000",
  });
  expect(direct.status).toBe(403);

  const clone = join(dir, "clone");
  const url = `http://ann:${TOKEN}@127.0.0.1:${receiver.port}/inventory.git`;
  expect(Bun.spawnSync(["git", "clone", "-q", url, clone]).exitCode).toBe(0);
  const by = ["-c", "user.name=x", "-c", "user.email=x@x"];
  Bun.spawnSync(["git", ...by, "-C", clone, "commit", "-q", "--allow-empty", "-m", "by hand"]);
  const push = Bun.spawnSync(["git", "-C", clone, "push", "origin", "HEAD:main"], {
    stderr: "pipe",
  });
  expect(push.exitCode).not.toBe(0);
  expect((await inventory.history())[0]?.sha).toBe(recorded);
});
