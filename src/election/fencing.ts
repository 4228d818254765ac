import { ErrorCode, SteadfastError, InvalidOptionError } from '../core/errors.js';

/** A write carried a fencing token older than one the resource has already seen. */
export class StaleTokenError extends SteadfastError {
  constructor(
    readonly token: number,
    readonly highest: number,
  ) {
    super(ErrorCode.STALE_TOKEN, `write with fencing token ${token} rejected: token ${highest} has been seen, so a newer leader exists (this writer must stop)`, { retryable: false });
  }
}

/**
 * Kleppmann's fencing ("How to do distributed locking", 2016): the resource remembers the
 * highest token it has seen and refuses anything older. A leader that was paused past its lease
 * (GC, SIGSTOP, a VM migration) and wakes up still believing it leads cannot do harm: its token
 * is older than the new leader's. etcd's docs call for exactly this.
 */
export class FencingGuard {
  private highestSeen = 0;

  get highest(): number {
    return this.highestSeen;
  }

  /** Accepts `token` if it is at least the highest seen (and remembers it); throws StaleTokenError otherwise. */
  check(token: number): void {
    if (!Number.isSafeInteger(token) || token < 1) throw new InvalidOptionError(`FencingGuard: token must be a positive integer, got ${JSON.stringify(token)}`);
    if (token < this.highestSeen) throw new StaleTokenError(token, this.highestSeen);
    this.highestSeen = token;
  }
}

/** A key-value resource guarded by fencing tokens. */
export class FencedStore<V> {
  private readonly guard = new FencingGuard();
  private readonly data = new Map<string, { value: V; token: number }>();
  private accepted = 0;
  private rejected = 0;

  get highestToken(): number {
    return this.guard.highest;
  }

  get stats(): { accepted: number; rejected: number } {
    return { accepted: this.accepted, rejected: this.rejected };
  }

  /** Writes if `token` is not older than any seen; throws StaleTokenError otherwise. */
  write(key: string, value: V, token: number): void {
    try {
      this.guard.check(token);
    } catch (err) {
      if (err instanceof StaleTokenError) this.rejected++;
      throw err;
    }
    this.accepted++;
    this.data.set(key, { value, token });
  }

  read(key: string): { value: V; token: number } | undefined {
    return this.data.get(key);
  }
}
