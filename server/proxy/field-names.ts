/**
 * Field names known by their bytes, in any case, without making a string: the two parsers
 * (./native/request-head.ts, ./upstream/head.ts) sort every field line this way, and most lines
 * are of no special name, so they cost no string at all.
 */
export class NameTable<K> {
  /** the known names by their length, as lower-case bytes */
  private readonly byLength: [Uint8Array, K][][] = [];

  constructor(
    names: Map<string, K>,
    private readonly other: K,
  ) {
    for (const [name, kind] of names) {
      let list = this.byLength[name.length];
      if (list === undefined) {
        list = [];
        this.byLength[name.length] = list;
      }
      list.push([Buffer.from(name, "latin1"), kind]);
    }
  }

  /** What the name in bytes[at, end) is; `other` for any name not in the table. */
  kindOf(bytes: Uint8Array, at: number, end: number): K {
    const list = this.byLength[end - at];
    if (list === undefined) return this.other;
    next: for (const [name, kind] of list) {
      for (let i = 0; i < name.length; i++) {
        if (lower(bytes[at + i] as number) !== name[i]) continue next;
      }
      return kind;
    }
    return this.other;
  }
}

/** Whether bytes[at, end) spell `name` (lower-case ASCII) in any case. */
export function equalsIgnoringCase(
  bytes: Uint8Array,
  at: number,
  end: number,
  name: string,
): boolean {
  if (end - at !== name.length) return false;
  for (let i = 0; i < name.length; i++) {
    if (lower(bytes[at + i] as number) !== name.charCodeAt(i)) return false;
  }
  return true;
}

/** Copies bytes[at, end) into `out` from `to`, ASCII letters in lower case; returns the end. */
export function copyLowered(
  bytes: Uint8Array,
  at: number,
  end: number,
  out: Uint8Array,
  to: number,
): number {
  for (let b = at; b < end; b++) out[to++] = lower(bytes[b] as number);
  return to;
}

function lower(byte: number): number {
  return byte >= 65 && byte <= 90 ? byte + 32 : byte;
}
