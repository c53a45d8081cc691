import { afterAll, expect, onTestFinished, test } from "bun:test";
import { mkdirSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runGate } from "../../pipeline/gate.ts";
import { pushedRepo } from "../helpers/pushed-repo.ts";
import { fileTempDir } from "../helpers/tmp.ts";

// A pushed tree whose own install script reaches for what the control host can reach, run
// through the real gate: bubblewrap, the build user, the install door. Its lock file is new,
// so the gate runs its install (the step with the door) and the script with it.
const dir = fileTempDir();
const repo = join(dir, "repo");

// Beside the gate on this machine's loopback: a service the pushed code must not reach, and a
// "registry" pipeline/install_hosts names, each saying who it is to whoever connects
const listen = (banner: string) =>
  Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open: (socket) => void socket.end(`${banner}\n`),
      data: () => {},
    },
  });
const service = listen("the control host's own service");
const registry = listen("the registry");
afterAll(() => {
  service.stop(true);
  registry.stop(true);
});

const probe = `
import { connect } from "node:net";
const say = (what, result) => console.log(\`probe \${what}: \${result}\`);
const talk = (port, send) =>
  new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let got = "";
    socket.on("connect", () => send && socket.write(send));
    socket.on("data", (chunk) => (got += chunk));
    socket.on("end", () => resolve(\`DONE \${got.trim().replace(/\\r?\\n/g, " | ")}\`));
    socket.on("error", (error) => resolve(error.code ?? error.message));
    setTimeout(() => resolve(\`timed out: \${got}\`), 5000).unref();
  });
const proxy = Number(new URL(process.env.HTTPS_PROXY ?? "http://127.0.0.1:1").port);
const connectTo = (target) => talk(proxy, \`CONNECT \${target} HTTP/1.1\\r\\nHost: \${target}\\r\\n\\r\\n\`);
say("service, straight", await talk(${service.port}));
say("registry, straight", await talk(${registry.port}));
say("registry, through the door", await connectTo("127.0.0.1:${registry.port}"));
say("service, through the door", await connectTo("127.0.0.1:${service.port}"));
say("plain GET, through the door", await talk(proxy, "GET http://127.0.0.1:${service.port}/ HTTP/1.1\\r\\n\\r\\n"));
say("npm, through the door", await fetch("https://registry.npmjs.org/").then((r) => \`DONE \${r.status}\`, (e) => e.code ?? e.message));
`;
// one dependency of its own (a folder of the tree: none from a registry), for a lock file
const { commit } = pushedRepo(
  repo,
  {
    "scripts/probe.mjs": probe,
    "helper/package.json": '{ "name": "helper", "version": "1.0.0" }\n',
    "package.json": `${JSON.stringify({
      name: "pushed",
      private: true,
      // the Bun the gate runs (bound where it is; named bun.exe when installed from npm)
      scripts: { preinstall: `${process.execPath} scripts/probe.mjs` },
      dependencies: { helper: "file:./helper" },
    })}\n`,
    "bun.lock": `${JSON.stringify({
      lockfileVersion: 2,
      configVersion: 1,
      workspaces: { "": { name: "pushed", dependencies: { helper: "file:./helper" } } },
      packages: { helper: ["helper@file:helper", {}] },
    })}\n`,
  },
  "an install script that looks around",
);

test("pushed install scripts reach the registries pipeline/install_hosts names, and nothing else", async () => {
  const said: string[] = [];
  // the door's folder is made in the temporary folder: this test's own, to see it go
  const tmp = join(dir, "tmp");
  mkdirSync(tmp);
  const tmpBefore = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  onTestFinished(() => {
    if (tmpBefore === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpBefore;
  });
  const MIB = 1024 * 1024;
  await runGate({
    say: (line) => said.push(line),
    commit,
    repo,
    workspace: join(dir, "workspace"),
    cacheRoot: join(dir, "cache"),
    testCommand: "true",
    stepTimeoutMs: 60_000,
    limits: { memoryBytes: 512 * MIB, processes: 1024, disk: { bytes: 2048 * MIB } },
    installHosts: [`127.0.0.1:${registry.port}`],
  });
  const out = said.join("\n");
  const result = (what: string) =>
    new RegExp(`probe ${what}: (.*)$`, "m").exec(out)?.[1]?.trim() ?? `no line for ${what}`;
  // the sandbox has no network: the machine's loopback services are not there at all
  expect(result("service, straight")).toBe("ECONNREFUSED");
  expect(result("registry, straight")).toBe("ECONNREFUSED");
  // the door lets the named registry through, on its port
  expect(result("registry, through the door")).toBe(
    "DONE HTTP/1.1 200 Connection Established |  | the registry",
  );
  // and refuses the rest with a sentence, said once in the push's output as well
  expect(result("service, through the door")).toStartWith(
    `DONE HTTP/1.1 403 Forbidden | Content-Type: text/plain; charset=utf-8 |`,
  );
  expect(result("service, through the door")).toContain(
    `install: refused a connection to 127.0.0.1:${service.port}`,
  );
  expect(result("plain GET, through the door")).toStartWith("DONE HTTP/1.1 405 Method Not Allowed");
  expect(result("npm, through the door")).not.toStartWith("DONE 200");
  const refusal = `  install: refused a connection to 127.0.0.1:${service.port} — the sandbox's install reaches only pipeline/install_hosts (127.0.0.1:${registry.port}); add the registry there if the tree's dependencies come from it`;
  expect(said.filter((line) => line === refusal)).toHaveLength(1);
  expect(said).toContain(
    `  install: refused a connection to registry.npmjs.org:443 — the sandbox's install reaches only pipeline/install_hosts (127.0.0.1:${registry.port}); add the registry there if the tree's dependencies come from it`,
  );
  // and the install itself went on: its one dependency, the gate's other steps after it
  expect(out).toContain("1 package installed");
  expect(out).toMatch(/^ {2}build: ok/m);
  // the door is gone with the step
  expect(tmpdir()).toBe(tmp);
  expect(readdirSync(tmp)).toEqual([]);
});
