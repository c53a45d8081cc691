import { expect, test } from "bun:test";
import { localPaths } from "../../../../server/shared/config/paths.ts";

const config = { digitalocean: { ssh_key: "~/.ssh/id_ed25519" } } as Parameters<
  typeof localPaths
>[0];

test("every path setting is expanded (~, $VAR) and made absolute the same way", () => {
  const env = {
    HOME: "/home/ann",
    FLEET: "/srv/fleet",
    DROPSHIP_SSH_KEY: "~/.ssh/dropship",
    DROPSHIP_KNOWN_HOSTS: "$FLEET/known_hosts",
    DROPSHIP_WORK: "~/work",
    DROPSHIP_REPOS: "repos",
    DROPSHIP_USERS_FILE: "~/users",
    DROPSHIP_BACKUPS: "$FLEET/backups",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell form ${VAR} is what is tested
    DROPSHIP_INVENTORY: "${FLEET}/hosts.yml",
  };
  expect(localPaths(config, env, "/opt/shop")).toEqual({
    sshKey: "/home/ann/.ssh/dropship",
    knownHosts: "/srv/fleet/known_hosts",
    work: "/home/ann/work",
    repos: "/opt/shop/repos",
    inventory: "/srv/fleet/hosts.yml",
    users: "/home/ann/users",
    backups: "/srv/fleet/backups",
  });
});

test("unset, the defaults are under .dropship/ and the key is the config's digitalocean/ssh_key", () => {
  expect(localPaths(config, { HOME: "/home/ann" }, "/opt/shop")).toEqual({
    sshKey: "/home/ann/.ssh/id_ed25519",
    knownHosts: "/opt/shop/.dropship/known_hosts",
    work: "/opt/shop/.dropship/work",
    repos: "/opt/shop/.dropship/repos",
    inventory: undefined,
    users: "/opt/shop/.dropship/users",
    backups: "/opt/shop/.dropship/backups",
  });
});

test("a path naming an unset variable is an error that names the variable", () => {
  expect(() => localPaths(config, { DROPSHIP_WORK: "$DATA/work" }, "/")).toThrow(
    "$DATA/work names $DATA, which is not set",
  );
});
