/** "1 host", "2 hosts": a count with its noun in the right number. */
export function counted(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}

/** A scaling reason without the verb the commit message already starts with. */
export function reasonOnly(reason: string): string {
  return reason.replace(/^scale (out|in): /, "");
}
