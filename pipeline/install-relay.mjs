// Runs inside the test gate's sandbox, as the build user, in a network namespace with nothing
// but loopback: it listens on 127.0.0.1 (HTTPS_PROXY for the install) and carries each
// connection to the install door's Unix socket outside, which lets CONNECTs to the configured
// registries through and nothing else. Then it runs the install, and exits as it does.
// Plain JavaScript with no imports of ours: it is written into the door's folder and run by
// the sandbox's Bun as it is (install-door.ts).
import { spawn } from "node:child_process";
import { connect, createServer } from "node:net";

const [socket, port, ...argv] = process.argv.slice(2);
const relay = createServer((visitor) => {
  visitor.setNoDelay(true);
  const door = connect(socket);
  visitor.pipe(door);
  door.pipe(visitor);
  door.on("error", () => visitor.destroy());
  visitor.on("error", () => door.destroy());
});
relay.listen(Number(port), "127.0.0.1", () => {
  const child = spawn(argv[0], argv.slice(1), { stdio: "inherit" });
  child.on("error", (error) => {
    console.error(`${argv[0]}: ${error.message}`);
    process.exit(127);
  });
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
});
