import type { Config, RoleName } from "../config/schema.ts";
import type { DropletSpec } from "./digitalocean.ts";

/** Tags every droplet of a deployment carries: the deployment's tag and one for its role. */
export function tagsFor(config: Config, role: RoleName): string[] {
  return [config.digitalocean.tag, `${config.digitalocean.tag}:${role}`];
}

/** What to ask DigitalOcean for, for one droplet of a role, from the config. */
export function dropletSpecFor(
  config: Config,
  role: RoleName,
  name: string,
  sshKeyId: number,
  userData: string,
): DropletSpec {
  const settings = config.roles[role];
  return {
    name,
    region: settings.region ?? config.digitalocean.region,
    size: settings.size,
    image: settings.image,
    sshKeys: [sshKeyId],
    tags: tagsFor(config, role),
    userData,
    vpcUuid: config.digitalocean.vpc_uuid,
  };
}
