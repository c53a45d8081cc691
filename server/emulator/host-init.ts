/**
 * A droplet's first process. `systemd` boots systemd in a container (systemd-nspawn) joined to
 * the droplet's network namespace, so the playbooks and commands run as they do on a real
 * droplet; `shell` (bash starting sshd; services run under dropship-service) is for a machine
 * without systemd-nspawn. (Apart from host.ts: the emulator reads it before the network's
 * names are set.)
 */
export type HostInit = "shell" | "systemd";
export const HOST_INITS: readonly HostInit[] = ["systemd", "shell"];

/** DROPSHIP_EMULATOR_INIT's value; systemd only where systemd-nspawn is installed. */
export function parseHostInit(
  value: string,
  which: (program: string) => string | null = Bun.which,
): HostInit {
  const init = HOST_INITS.find((name) => name === value);
  if (!init)
    throw new Error(
      `${JSON.stringify(value)} is not what a droplet can boot: use ${HOST_INITS.join(" or ")}, or leave it unset for systemd`,
    );
  if (init === "systemd" && !which("systemd-nspawn"))
    throw new Error(
      "systemd needs systemd-nspawn, which is not installed: apt-get install systemd-container, or DROPSHIP_EMULATOR_INIT=shell",
    );
  return init;
}
