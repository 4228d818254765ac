import { InvalidOptionError } from '../core/errors.js';

/** One write a fenced resource was asked to take, in the order the resource saw them. */
export interface FencedWrite {
  /** The resource (a key, a file, a db node's record). Tokens are compared per resource. */
  resource: string;
  /** The fencing token the write carried. */
  token: number;
  /** Whether the resource took it. */
  accepted: boolean;
  /** Who sent it (the leader's id): two writers' effects under one token are a split brain. */
  writer?: string;
  /** When, for the report. */
  at?: number;
}

export interface FencingViolation {
  /** Position of the write in the history. */
  index: number;
  /**
   * `stale-token`: accepted with a token lower than one the resource had already accepted.
   * `shared-token`: accepted from a writer other than the one whose write with the same token was
   * accepted before — two leaders' effects accepted in one term.
   */
  kind: 'stale-token' | 'shared-token';
  resource: string;
  token: number;
  /** The highest token accepted before it, and from whom. */
  highest: number;
  writer?: string;
  highestWriter?: string;
  at?: number;
}

export interface FencingResult {
  valid: boolean;
  writes: number;
  accepted: number;
  rejected: number;
  resources: number;
  violations: FencingViolation[];
  /** Rejected though its token was not below the highest accepted: safe, but a live leader was refused. */
  refusedCurrent: number;
}

/**
 * The fencing checker: in the order each resource saw them, no write may be accepted with a
 * token lower than one it already accepted, and no two writers' writes may be accepted under
 * the same token. Either means a deposed leader's effects were taken after (or alongside) its
 * successor's. A history with no violation shows the resource's fence held for every write seen.
 */
export function checkFencing(writes: Iterable<FencedWrite>): FencingResult {
  const highest = new Map<string, { token: number; writer?: string | undefined }>();
  const r: FencingResult = { valid: true, writes: 0, accepted: 0, rejected: 0, resources: 0, violations: [], refusedCurrent: 0 };
  const resources = new Set<string>();
  let index = 0;
  for (const w of writes) {
    if (w === null || typeof w !== 'object') throw new InvalidOptionError(`checkFencing: write ${index} must be an object { resource, token, accepted, writer? }`);
    if (typeof w.resource !== 'string') throw new InvalidOptionError(`checkFencing: write ${index}: resource must be a string, got ${JSON.stringify(w.resource)}`);
    if (typeof w.token !== 'number' || !Number.isFinite(w.token)) throw new InvalidOptionError(`checkFencing: write ${index}: token must be a finite number, got ${JSON.stringify(w.token)}`);
    if (typeof w.accepted !== 'boolean') throw new InvalidOptionError(`checkFencing: write ${index}: accepted must be true or false, got ${JSON.stringify(w.accepted)}`);
    r.writes++;
    resources.add(w.resource);
    const top = highest.get(w.resource);
    if (!w.accepted) {
      r.rejected++;
      if (top === undefined || w.token >= top.token) r.refusedCurrent++;
    } else {
      r.accepted++;
      if (top !== undefined && w.token < top.token) r.violations.push(violation('stale-token', index, w, top));
      else if (top !== undefined && w.token === top.token && w.writer !== undefined && top.writer !== undefined && w.writer !== top.writer) r.violations.push(violation('shared-token', index, w, top));
      if (top === undefined || w.token > top.token) highest.set(w.resource, { token: w.token, writer: w.writer });
    }
    index++;
  }
  r.resources = resources.size;
  r.valid = r.violations.length === 0;
  return r;
}

function violation(kind: FencingViolation['kind'], index: number, w: FencedWrite, top: { token: number; writer?: string | undefined }): FencingViolation {
  const v: FencingViolation = { index, kind, resource: w.resource, token: w.token, highest: top.token };
  if (w.writer !== undefined) v.writer = w.writer;
  if (top.writer !== undefined) v.highestWriter = top.writer;
  if (w.at !== undefined) v.at = w.at;
  return v;
}
