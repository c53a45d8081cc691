/**
 * The host key a droplet should use, from cloud-config user_data (`ssh_keys:
 * ed25519_private: ...`), as cloud-init reads it; undefined when none is given.
 */
export function hostKeyFromUserData(userData: string | undefined): string | undefined {
  if (!userData?.startsWith("#cloud-config")) return undefined;
  try {
    const config = Bun.YAML.parse(userData) as { ssh_keys?: { ed25519_private?: unknown } } | null;
    const key = config?.ssh_keys?.ed25519_private;
    return typeof key === "string" && key.includes("OPENSSH PRIVATE KEY") ? key : undefined;
  } catch {
    return undefined;
  }
}
