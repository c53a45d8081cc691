/** One argument for a POSIX shell, quoted so nothing in it is interpreted. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
