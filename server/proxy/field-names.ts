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

/** tchar (RFC 9110 §5.6.2), by byte: what a field name is made of */
export const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TCHAR[c.charCodeAt(0)] = 1;
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

/** Bytes that writeLine writes for the field at `i` of `lines`. */
export function lineSize(lines: number[], i: number): number {
  return (
    (lines[i + 1] as number) -
    (lines[i] as number) +
    (lines[i + 3] as number) -
    (lines[i + 2] as number) +
    4
  );
}

/**
 * Writes the field at `i` of `lines` (four numbers a field: name start and end, value start and
 * end, in `bytes`) into `out` from `at` as `name: value` CRLF, the name in lower case; returns
 * the end.
 */
export function writeLine(
  bytes: Uint8Array,
  lines: number[],
  i: number,
  out: Uint8Array,
  at: number,
): number {
  let to = copyLowered(bytes, lines[i] as number, lines[i + 1] as number, out, at);
  out[to++] = 58;
  out[to++] = 32;
  const valueEnd = lines[i + 3] as number;
  for (let b = lines[i + 2] as number; b < valueEnd; b++) out[to++] = bytes[b] as number;
  out[to++] = 13;
  out[to++] = 10;
  return to;
}

const bufferToString = Buffer.prototype.toString;

/**
 * bytes[from, to) as a string, one character per byte (header bytes are Latin-1). Read in
 * place: a Buffer over `bytes.buffer` costs the typed array its fast form, and twice the time.
 */
export function latin1Range(bytes: Uint8Array, from: number, to: number): string {
  return bufferToString.call(bytes, "latin1", from, to);
}

function lower(byte: number): number {
  return byte >= 65 && byte <= 90 ? byte + 32 : byte;
}

/**
 * Writes `text` into `out` from `at`, a byte a character (its low byte, as Buffer's "latin1"
 * does); returns the end. In JavaScript on purpose: for a head's short strings a call into the
 * runtime, and the flattening of a concatenated string it needs first, cost more than the copy.
 */
export function writeLatin1(out: Uint8Array, at: number, text: string): number {
  const length = text.length;
  for (let i = 0; i < length; i++) out[at + i] = text.charCodeAt(i);
  return at + length;
}

/** The field line that frames a body as chunks, in either direction. */
export const CHUNKED_LINE = "transfer-encoding: chunked\r\n";

/** Bytes that writeField writes. */
export const fieldSize = (name: string, value: string): number => name.length + value.length + 4;

/** Writes `name: value` CRLF from `at`; returns the end. */
export function writeField(out: Uint8Array, at: number, name: string, value: string): number {
  let to = writeLatin1(out, at, name);
  out[to++] = 58;
  out[to++] = 32;
  to = writeLatin1(out, to, value);
  out[to++] = 13;
  out[to++] = 10;
  return to;
}

/** Digits of a length (a non-negative integer) in decimal. */
export function decimalSize(n: number): number {
  let size = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    size++;
  }
  return size;
}

/** Writes a non-negative integer in decimal from `at`; returns the end. */
export function writeDecimal(out: Uint8Array, at: number, n: number): number {
  const end = at + decimalSize(n);
  let to = end;
  do {
    out[--to] = 48 + (n % 10);
    n = Math.floor(n / 10);
  } while (n > 0);
  return end;
}
