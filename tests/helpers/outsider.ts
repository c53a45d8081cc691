import { afterAll } from "bun:test";
import { EMULATOR } from "../../server/emulator/this-network.ts";
import { run } from "../../server/shared/proc.ts";

/**
 * A stranger on the internet: a namespace of its own on the emulator's public bridge, with
 * an address that is neither this machine's (the control host's) nor a droplet's.
 */
export function startOutsider(ip = `${EMULATOR.public.prefix}.254.9`) {
  const ns = `dsout-${process.pid}`;
  const veth = `dso${process.pid % 100000}`;
  run(["ip", "netns", "add", ns]);
  run(["ip", "link", "add", `${veth}h`, "type", "veth", "peer", "name", `${veth}c`]);
  run(["ip", "link", "set", `${veth}c`, "netns", ns]);
  run(["ip", "link", "set", `${veth}h`, "master", EMULATOR.public.bridge, "up"]);
  run(["ip", "netns", "exec", ns, "ip", "addr", "add", `${ip}/16`, "dev", `${veth}c`]);
  run(["ip", "netns", "exec", ns, "ip", "link", "set", `${veth}c`, "up"]);
  afterAll(() => {
    run(["ip", "link", "del", `${veth}h`], { allowFailure: true });
    run(["ip", "netns", "del", ns], { allowFailure: true });
  });
  return { ns, ip };
}

/** Whether a TCP connection from a namespace (or this machine) to host:port opens within 1 s. */
export function reaches(from: string | undefined, host: string, port: number): boolean {
  const probe = `const s = await Bun.connect({ hostname: ${JSON.stringify(host)}, port: ${port}, socket: { data() {} } }).catch(() => undefined); console.log(s ? "open" : "refused"); s?.end(); process.exit(0);`;
  const argv = [process.execPath, "-e", probe];
  const proc = Bun.spawnSync(from ? ["ip", "netns", "exec", from, ...argv] : argv, {
    stdout: "pipe",
    timeout: 1500,
  });
  return proc.stdout.toString().trim() === "open";
}
