import { expect, test } from "bun:test";
import { connectFault } from "../../../server/shared/ssh.ts";

const target = { host: "10.77.0.12", keyFile: "/home/ann/.ssh/dropship" };

test("a failed SSH connection names the user, the host and the key, and what to check", () => {
  const auth = Object.assign(new Error("All configured authentication methods failed"), {
    level: "client-authentication",
  });
  expect(connectFault("root", target, auth, false)).toBe(
    "root@10.77.0.12: the key /home/ann/.ssh/dropship was refused — its .pub must be in the host's authorized_keys (on DigitalOcean: the account key the droplet was created with; set DROPSHIP_SSH_KEY to that key)",
  );
  expect(connectFault("root", target, new Error("connect ECONNREFUSED"), false)).toBe(
    "root@10.77.0.12 (with the key /home/ann/.ssh/dropship): connect ECONNREFUSED",
  );
  expect(connectFault("root", target, new Error("x"), true)).toStartWith(
    "root@10.77.0.12: the host key is not the pinned one",
  );
  expect(connectFault("deploy", { host: "h" }, auth, false)).toStartWith(
    "deploy@h: the key given was refused",
  );
});
