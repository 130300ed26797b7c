/**
 * Rendered GET answers, reused while the store says nothing was written since they were read
 * (`Store.changeStamp`). ARM clients poll: the same resource is read again and again between rare
 * writes, and a repeated GET then costs no store read, no JSON parse, no render and no stringify.
 *
 * Entries hold only for the stamp they were made under: the first entry of a newer stamp drops all
 * the others, which were stale anyway, so the cache never holds dead answers. Where the store can't
 * tell (PostgreSQL, whose other processes write too) nothing is cached.
 */
export class AnswerCache {
  private stamp = -1;
  private readonly answers = new Map<string, string>();

  constructor(private readonly maxEntries = 2_000) {}

  get(key: string, stamp: number | undefined): string | undefined {
    return stamp === this.stamp ? this.answers.get(key) : undefined;
  }

  /** `stamp`: the store's stamp taken before the data behind `answer` was read. */
  set(key: string, stamp: number | undefined, answer: string) {
    if (stamp === undefined || stamp < this.stamp) return;
    if (stamp > this.stamp) {
      this.answers.clear();
      this.stamp = stamp;
    }
    // Oldest first out: insertion order is all a Map keeps, and polling keeps hot answers coming back.
    if (this.answers.size >= this.maxEntries)
      this.answers.delete(this.answers.keys().next().value!);
    this.answers.set(key, answer);
  }
}
