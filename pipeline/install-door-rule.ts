/**
 * What the test gate's install may reach: the package registries `pipeline/install_hosts`
 * names, through an HTTP CONNECT door, and nothing else. Pure: the door (install-door.ts)
 * reads a request line and asks here.
 */

/** Where the door's folder is inside the sandbox (sandbox.ts binds it there). */
export const DOOR_MOUNT = "/run/dropship-door";

/** A registry the install may reach: a name or an address, and its port. */
export interface DoorHost {
  host: string;
  port: number;
}

const HTTPS = 443;

/** The configured hosts (validated: host or host:port), each with its port (443 unless it says another). */
export function doorHosts(list: readonly string[]): DoorHost[] {
  return list.map((entry) => {
    const colon = entry.lastIndexOf(":");
    if (colon < 0) return { host: entry.toLowerCase(), port: HTTPS };
    return { host: entry.slice(0, colon).toLowerCase(), port: Number(entry.slice(colon + 1)) };
  });
}

export const describeHosts = (hosts: readonly DoorHost[]): string =>
  hosts.length === 0 ? "none" : hosts.map((h) => `${h.host}:${h.port}`).join(", ");

export type DoorAsk = { host: string; port: number } | { fault: string };

const CONNECT = /^CONNECT ([A-Za-z0-9.-]+):([0-9]{1,5}) HTTP\/1\.[01]$/;

/** A proxy request line: only `CONNECT host:port`, the way Bun and git reach an https:// registry. */
export function readConnectLine(line: string): DoorAsk {
  const match = CONNECT.exec(line);
  if (!match) {
    const method = line.split(" ", 1)[0] ?? "";
    return {
      fault:
        method === "CONNECT"
          ? "a CONNECT to something other than a host name and port"
          : `${method ? `a ${method.slice(0, 16)} request` : "an empty request line"}: only CONNECT to an https:// registry is served`,
    };
  }
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return { fault: `port ${match[2]} is not a port` };
  return { host: (match[1] as string).toLowerCase(), port };
}

/** Whether the door lets the ask through: a configured host, on its port. */
export function admitted(ask: { host: string; port: number }, hosts: readonly DoorHost[]): boolean {
  return hosts.some((h) => h.host === ask.host && h.port === ask.port);
}

/** What the push output says, once a host, when the install asked for one it may not reach. */
export function refusalSentence(ask: DoorAsk, hosts: readonly DoorHost[]): string {
  const what = "fault" in ask ? ask.fault : `a connection to ${ask.host}:${ask.port}`;
  return (
    `install: refused ${what} — the sandbox's install reaches only pipeline/install_hosts ` +
    `(${describeHosts(hosts)}); add the registry there if the tree's dependencies come from it`
  );
}
