/** A row waiting for its statement, and the caller waiting for its commit. */
interface Waiting<Row, Answer> {
  row: Row;
  key: string;
  resolve: (answer: Answer) => void;
  reject: (error: Error) => void;
}

export interface GroupCommitOptions<Row, Answer> {
  /** One statement (its own transaction) for these rows; answers in their order. */
  statement: (rows: Row[]) => Promise<Answer[]>;
  /** Statements on their way at once; the rows that come meanwhile wait and go together. */
  lanes: number;
  /** Rows in one statement at most. */
  maxRows: number;
  /** Rows with the same key never share a statement nor are on their way twice: they go one after another, in order. */
  keyOf: (row: Row) => string;
}

/**
 * Group commit: rows that come while `lanes` statements are on their way wait and go together as one
 * statement (one commit, one WAL flush). A caller is answered only once the statement that holds its
 * row has committed (nothing is acknowledged before it is on disk). A statement that fails for one
 * row's sake (a duplicate id, a bad document) or a deadlock rolls back whole; its rows are then sent
 * one by one, so only that row's caller sees the error.
 */
export class GroupCommit<Row, Answer> {
  readonly #waiting: Waiting<Row, Answer>[] = [];
  /** Keys of the rows on their way. */
  readonly #busy = new Set<string>();
  #sending = 0;

  constructor(private readonly options: GroupCommitOptions<Row, Answer>) {}

  add(row: Row): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      this.#waiting.push({ row, key: this.options.keyOf(row), resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#sending < this.options.lanes && this.#waiting.length > 0) {
      const batch = this.#take();
      if (batch.length === 0) return;
      this.#sending++;
      for (const entry of batch) this.#busy.add(entry.key);
      void this.#send(batch).finally(() => {
        for (const entry of batch) this.#busy.delete(entry.key);
        this.#sending--;
        this.#pump();
      });
    }
  }

  /** The next statement's rows, in arrival order: none whose key is on its way, none twice, and a row's later ones stay behind it. */
  #take(): Waiting<Row, Answer>[] {
    const taken: Waiting<Row, Answer>[] = [];
    const blocked = new Set(this.#busy);
    let kept = 0;
    for (const entry of this.#waiting) {
      if (taken.length < this.options.maxRows && !blocked.has(entry.key)) taken.push(entry);
      else this.#waiting[kept++] = entry;
      blocked.add(entry.key);
    }
    this.#waiting.length = kept;
    return taken;
  }

  async #send(batch: Waiting<Row, Answer>[]): Promise<void> {
    try {
      const answers = await this.options.statement(batch.map((entry) => entry.row));
      batch.forEach((entry, i) => entry.resolve(answers[i]!));
    } catch (error) {
      if (batch.length === 1 || !rowsFault(error)) {
        for (const entry of batch) entry.reject(error as Error);
        return;
      }
      // Nothing of the statement was kept: each row again on its own, its own answer.
      await Promise.all(batch.map((entry) => this.options.statement([entry.row]).then((answers) => entry.resolve(answers[0]!), entry.reject)));
    }
  }
}

/**
 * Data errors (class 22), constraint violations (class 23) and a deadlock (two statements locking rows
 * in different orders) belong to the rows; anything else (a timeout, a lost connection) to the statement.
 */
function rowsFault(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23') || code === '40P01');
}
