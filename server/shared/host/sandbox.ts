import sandboxText from "../../../ansible/roles/dropship_service/templates/sandbox.conf" with {
  type: "text",
};

/**
 * The sandbox every dropship service's systemd unit runs in, as `Key=Value` pairs: read from
 * the file the units include, so what runs as the app beside it (a job, exec --app) is held to
 * the same as the app itself.
 */
export const SANDBOX: readonly string[] = sandboxSettings(sandboxText);

/** The settings of a unit file's lines: comments and blank lines left out. */
export function sandboxSettings(text: string): string[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      if (!/^[A-Za-z]+=/.test(line))
        throw new Error(`sandbox.conf: ${JSON.stringify(line)} is not a Key=Value setting`);
      return line;
    });
}
