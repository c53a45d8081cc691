import { expect, test } from "bun:test";
import { hostKeyFromUserData } from "../../../../server/emulator/cloudinit.ts";
import {
  hostKeyUserData,
  knownHostsLine,
  makeHostKey,
} from "../../../../server/shared/cloud/hostkeys.ts";
import { dropletSpecFor } from "../../../../server/shared/cloud/spec.ts";
import { validateConfig } from "../../../../server/shared/config/validate.ts";

test("a droplet is asked for with the role's size, image and region, and the deployment's tags", () => {
  const result = validateConfig({
    digitalocean: { region: "ams3", tag: "shop", vpc_uuid: "vpc-1" },
    roles: { production: { size: "s-2vcpu-4gb", region: "fra1" } },
  });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  expect(
    dropletSpecFor(result.config, "production", "shop-production-3", 42, "#cloud-config\n"),
  ).toEqual({
    name: "shop-production-3",
    region: "fra1",
    size: "s-2vcpu-4gb",
    image: "debian-12-x64",
    sshKeys: [42],
    tags: ["shop", "shop:production"],
    userData: "#cloud-config\n",
    vpcUuid: "vpc-1",
  });
  expect(dropletSpecFor(result.config, "redis", "shop-redis-1", 42, "").region).toBe("ams3");
});

test("the host key made here travels in user_data as cloud-init reads it, and pins as known_hosts", () => {
  const key = makeHostKey("web-1");
  const userData = hostKeyUserData(key);
  expect(userData).toStartWith("#cloud-config\n");
  expect(hostKeyFromUserData(userData)?.trim()).toBe(key.privateKey.trim());
  expect(hostKeyFromUserData("#!/bin/sh\necho hi")).toBeUndefined();
  expect(knownHostsLine("10.0.0.5", key)).toBe(
    `10.0.0.5 ${key.publicKey.split(" ").slice(0, 2).join(" ")}`,
  );
});
