import { expect, test } from "bun:test";
import {
  admitted,
  doorHosts,
  readConnectLine,
  refusalSentence,
} from "../../pipeline/install-door-rule.ts";

const HOSTS = doorHosts(["registry.npmjs.org", "NPM.example.com:8443"]);

test("a configured host is 443 unless it names its port, in lower case", () => {
  expect(HOSTS).toEqual([
    { host: "registry.npmjs.org", port: 443 },
    { host: "npm.example.com", port: 8443 },
  ]);
});

test("only CONNECT host:port is read; anything else is a fault that says what it was", () => {
  expect(readConnectLine("CONNECT Registry.NPMJS.org:443 HTTP/1.1")).toEqual({
    host: "registry.npmjs.org",
    port: 443,
  });
  for (const [line, fault] of [
    ["GET http://registry.npmjs.org/ HTTP/1.1", "a GET request: only CONNECT"],
    ["", "an empty request line"],
    ["CONNECT [::1]:443 HTTP/1.1", "a CONNECT to something other than a host name and port"],
    ["CONNECT user@registry.npmjs.org:443 HTTP/1.1", "something other than a host name"],
    ["CONNECT registry.npmjs.org HTTP/1.1", "something other than a host name"],
    ["CONNECT registry.npmjs.org:443 HTTP/2", "something other than a host name"],
    ["CONNECT registry.npmjs.org:443  HTTP/1.1", "something other than a host name"],
    ["CONNECT registry.npmjs.org:99999 HTTP/1.1", "port 99999 is not a port"],
    ["CONNECT registry.npmjs.org:0 HTTP/1.1", "port 0 is not a port"],
  ] as const) {
    const ask = readConnectLine(line);
    expect("fault" in ask ? ask.fault : "admitted").toContain(fault);
  }
});

test("a host is let through on its own port only; names are compared whole", () => {
  const at = (host: string, port: number) => admitted({ host, port }, HOSTS);
  expect(at("registry.npmjs.org", 443)).toBe(true);
  expect(at("npm.example.com", 8443)).toBe(true);
  expect(at("registry.npmjs.org", 80)).toBe(false);
  expect(at("registry.npmjs.org", 22)).toBe(false);
  expect(at("npm.example.com", 443)).toBe(false);
  expect(at("registry.npmjs.org.evil.test", 443)).toBe(false);
  expect(at("npmjs.org", 443)).toBe(false);
  expect(at("127.0.0.1", 6379)).toBe(false);
  expect(admitted({ host: "registry.npmjs.org", port: 443 }, [])).toBe(false);
});

test("a refusal names what was asked, what may be reached and the setting", () => {
  expect(refusalSentence({ host: "10.0.0.5", port: 6379 }, HOSTS)).toBe(
    "install: refused a connection to 10.0.0.5:6379 — the sandbox's install reaches only pipeline/install_hosts (registry.npmjs.org:443, npm.example.com:8443); add the registry there if the tree's dependencies come from it",
  );
  expect(refusalSentence({ fault: "a GET request: only CONNECT" }, [])).toContain(
    "refused a GET request: only CONNECT — the sandbox's install reaches only pipeline/install_hosts (none)",
  );
});
