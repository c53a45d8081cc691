/** A value's place in a LinkedSet, kept by whoever added it, to take it out again in O(1). */
export interface Link<T> {
  readonly value: T;
  prev: Link<T> | undefined;
  next: Link<T> | undefined;
  /** the set it is in; undefined once taken out */
  owner: LinkedSet<T> | undefined;
}

/**
 * The values of a set that come and go once a request (the requests waiting on a backend, or
 * on their answer's deadline), as a doubly linked list: adding allocates one small link and
 * taking out touches nothing else. In the proxy a JSC Set churned this way cost ~10 µs of CPU
 * a request where the same work on this list cost none that could be measured
 * (docs/benchmarks.md, issue 19).
 */
export class LinkedSet<T> {
  private head: Link<T> | undefined;
  size = 0;

  add(value: T): Link<T> {
    const link: Link<T> = { value, prev: undefined, next: this.head, owner: this };
    if (this.head) this.head.prev = link;
    this.head = link;
    this.size++;
    return link;
  }

  /** Takes a link out; one already out (or cleared) is left alone. */
  remove(link: Link<T>): void {
    if (link.owner !== this) return;
    if (link.prev) link.prev.next = link.next;
    else this.head = link.next;
    if (link.next) link.next.prev = link.prev;
    link.owner = undefined;
    link.prev = undefined;
    link.next = undefined;
    this.size--;
  }

  /** The values, newest first: a copy, so the set may change while it is read. */
  values(): T[] {
    const out: T[] = [];
    for (let link = this.head; link; link = link.next) out.push(link.value);
    return out;
  }

  /** Takes every value out and returns them. */
  drain(): T[] {
    const out: T[] = [];
    let link = this.head;
    while (link) {
      const next = link.next;
      out.push(link.value);
      link.owner = undefined;
      link.prev = undefined;
      link.next = undefined;
      link = next;
    }
    this.head = undefined;
    this.size = 0;
    return out;
  }
}
