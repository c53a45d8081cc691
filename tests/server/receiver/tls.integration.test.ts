import { expect, test } from "bun:test";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import tls from "node:tls";
import { selfSigned } from "../../../scripts/lib/certificates.ts";
import { CHECK_MS } from "../../../server/receiver/tls.ts";
import { rawRequest } from "../../helpers/raw.ts";
import { receiverThatStops, startReceiver } from "../../helpers/receiver.ts";
import { eventually, expectLogged } from "../../helpers/server.ts";
import { fileTempDir } from "../../helpers/tmp.ts";

// git over HTTPS to the receiver, with a certificate the operator keeps (certbot, a CA of
// their own): served through the counting front, renewed without a restart.
const TOKEN = "tls-token-0123456789abcdef";
const certs = fileTempDir();
const make = (name: string) => {
  selfSigned({
    certFile: join(certs, `${name}.crt`),
    keyFile: join(certs, `${name}.key`),
    commonName: "control.test",
    names: ["DNS:control.test", "IP:127.0.0.1"],
    days: 2,
  });
  return {
    cert: join(certs, `${name}.crt`),
    key: join(certs, `${name}.key`),
    pem: readFileSync(join(certs, `${name}.crt`), "utf8"),
  };
};
const first = make("first");
const second = make("second");
const served = join(certs, "served");
writeFileSync(`${served}.crt`, first.pem);
writeFileSync(`${served}.key`, readFileSync(first.key));
const { receiver } = await startReceiver(
  `pipeline: { repos: [app], tls: { certificate_file: ${served}.crt, key_file: ${served}.key } }\n`,
  TOKEN,
);
const url = `https://ann:${TOKEN}@127.0.0.1:${receiver.port}/app.git`;

/** The certificate a new TLS connection to the receiver is given, as PEM's base64 body. */
function certificateNow(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: "127.0.0.1", port: receiver.port, rejectUnauthorized: false },
      () => {
        const raw = socket.getPeerCertificate().raw;
        socket.end();
        resolve(raw.toString("base64"));
      },
    );
    socket.on("error", reject);
  });
}
const bodyOf = (pem: string) => pem.replace(/-----[A-Z ]+-----|\s/g, "");

test("git pushes and lists refs over HTTPS with the certificate of pipeline/tls, checked; plain HTTP gets no git", async () => {
  expect(receiver.started).toContain(`listening on https://127.0.0.1:${receiver.port}`);
  // a branch that deploys nothing: stored, so the push needs no gate
  const work = fileTempDir();
  const git = (...args: string[]) =>
    Bun.spawnSync(["git", "-c", "user.name=t", "-c", "user.email=t@t", ...args], {
      cwd: work,
      env: { ...process.env, GIT_SSL_CAINFO: first.cert },
      stderr: "pipe",
    });
  git("init", "-q");
  git("commit", "-q", "--allow-empty", "-m", "over https");
  const push = git("push", url, "HEAD:refs/heads/feature");
  expect(push.stderr.toString()).toContain("refs/heads/feature: stored, not deployed");
  expect(push.exitCode).toBe(0);
  const ls = git("ls-remote", url);
  expect(ls.exitCode).toBe(0);
  expect(ls.stdout.toString()).toContain(
    `${git("rev-parse", "HEAD").stdout.toString().trim()}\trefs/heads/feature`,
  );
  // without the CA, git refuses the certificate: it is checked, not waved through
  const untrusted = Bun.spawnSync(["git", "ls-remote", url], { stderr: "pipe" });
  expect(untrusted.exitCode).not.toBe(0);
  expect(untrusted.stderr.toString()).toContain("certificate");
  const plain = await rawRequest(
    `http://127.0.0.1:${receiver.port}`,
    "GET /app.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: control.test\r\n\r\n",
    { quietMs: 500 },
  );
  expect(plain).not.toContain("git-upload-pack");
  expect(bodyOf(first.pem)).toBe(await certificateNow());
});

test("a renewed certificate is served to new connections within seconds, with no restart; a broken one is refused and the old stays", async () => {
  // a key that is not the certificate's, as a renewal half written would look
  writeFileSync(`${served}.crt`, second.pem);
  await eventually(
    async () => receiver.stderr().includes("the certificate in use stays"),
    CHECK_MS + 5_000,
    "the mismatched pair refused",
  );
  await expectLogged(
    () => receiver.stderr(),
    `pipeline/tls: ${served}.key is not the key of ${served}.crt`,
  );
  expect(await certificateNow()).toBe(bodyOf(first.pem));
  // the key arrives, as certbot moves files into place
  writeFileSync(`${served}.key.new`, readFileSync(second.key));
  renameSync(`${served}.key.new`, `${served}.key`);
  await eventually(
    async () => (await certificateNow()) === bodyOf(second.pem),
    CHECK_MS + 5_000,
    "the renewed certificate served",
  );
  await expectLogged(() => receiver.stderr(), "serving git over HTTPS with the new");
  const ls = Bun.spawnSync(["git", "ls-remote", url], {
    env: { ...process.env, GIT_SSL_CAINFO: second.cert },
    stderr: "pipe",
  });
  expect(ls.exitCode).toBe(0);
}, 40_000);

test("a certificate that cannot be used stops the receiver at the door, naming the file and the fix", () => {
  const run = receiverThatStops(
    "pipeline: { tls: { certificate_file: nowhere.crt, key_file: nowhere.key } }\n",
    TOKEN,
  );
  expect(run.code).toBe(1);
  expect(run.stderr).toContain(
    `dropship-receiver: pipeline/tls/certificate_file: no file at ${join(run.dir, "nowhere.crt")} — give the path of the PEM file`,
  );
});
