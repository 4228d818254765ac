import { RegistryValidationError } from './errors.js';

/**
 * Consul's `?filter=` expressions (go-bexpr), evaluated on the JSON objects an endpoint
 * answers with: `Service.Tags contains "blue"`, `"blue" in ServiceTags`, `Service.Meta.zone ==
 * "a" and not (Checks.Status contains critical)`, `ServiceName matches "^web"`, `Meta is empty`.
 * Operators: `==` `!=` `in` `not in` `contains` `not contains` `is empty` `is not empty`
 * `matches` `not matches`, joined with `and`, `or`, `not` and parentheses (`not` binds tightest,
 * then `and`, then `or`). Values are quoted ("…" or `…`) or bare words and numbers. A selector
 * names a field of the answer, with dots (`Service.Port`), a map key after a dot or in brackets
 * (`Service.Meta["zone"]`); through a list of objects (`Checks.Status`) it names the list of
 * their fields, which takes `contains`/`in`/`is empty`. An expression that does not parse, or
 * names a field the answer does not have, is refused with a 400 that says where — never ignored.
 */
export type Filter = (item: unknown) => boolean;

type Token = { kind: 'word' | 'string' | 'op' | 'paren'; text: string; at: number };
type Expr =
  | { kind: 'and'; left: Expr; right: Expr }
  | { kind: 'or'; left: Expr; right: Expr }
  | { kind: 'not'; inner: Expr }
  | { kind: 'match'; selector: string[]; op: string; value?: string };

const MAX_FILTER_CHARS = 4096;

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(' || c === ')') {
      out.push({ kind: 'paren', text: c, at: i++ });
    } else if (c === '"' || c === '`') {
      let j = i + 1;
      let value = '';
      while (j < text.length && text[j] !== c) {
        if (c === '"' && text[j] === '\\' && j + 1 < text.length) j++;
        value += text[j++];
      }
      if (j >= text.length) throw bad(`unterminated string starting at character ${i + 1}`);
      out.push({ kind: 'string', text: value, at: i });
      i = j + 1;
    } else if (c === '=' || c === '!') {
      if (text[i + 1] !== '=') throw bad(`unexpected ${JSON.stringify(c)} at character ${i + 1} (use == or !=)`);
      out.push({ kind: 'op', text: c + '=', at: i });
      i += 2;
    } else {
      const m = /^(?:[A-Za-z0-9_.\-/:]|\["[^"]*"\])+/.exec(text.slice(i));
      if (!m) throw bad(`unexpected ${JSON.stringify(c)} at character ${i + 1}`);
      out.push({ kind: 'word', text: m[0], at: i });
      i += m[0].length;
    }
  }
  return out;
}

const bad = (why: string): RegistryValidationError => new RegistryValidationError('filter', `filter: ${why}`);

function parse(text: string): Expr {
  const tokens = tokenize(text);
  let p = 0;
  const peekWord = (w: string, k = 0): boolean => tokens[p + k]?.kind === 'word' && tokens[p + k]!.text.toLowerCase() === w;
  const where = (): string => (p < tokens.length ? `at character ${tokens[p]!.at + 1}` : 'at the end');
  const value = (): string => {
    const t = tokens[p];
    if (!t || (t.kind !== 'string' && t.kind !== 'word')) throw bad(`a value is expected ${where()}`);
    p++;
    return t.text;
  };
  const selector = (): string[] => {
    const t = tokens[p];
    if (!t || t.kind !== 'word') throw bad(`a selector is expected ${where()}`);
    p++;
    const parts: string[] = [];
    for (const m of t.text.matchAll(/([^.[\]]+)|\["([^"]*)"\]/g)) parts.push(m[1] ?? m[2]!);
    if (parts.length === 0) throw bad(`invalid selector ${JSON.stringify(t.text)}`);
    return parts;
  };
  const match = (): Expr => {
    // "value" in Selector / "value" not in Selector
    if (tokens[p]?.kind === 'string' || (tokens[p]?.kind === 'word' && (peekWord('in', 1) || (peekWord('not', 1) && peekWord('in', 2))))) {
      const v = value();
      const negated = peekWord('not') && (p++, true);
      if (!peekWord('in')) throw bad(`"in" is expected ${where()}`);
      p++;
      return { kind: 'match', selector: selector(), op: negated ? 'not in' : 'in', value: v };
    }
    const s = selector();
    const t = tokens[p];
    if (t?.kind === 'op') {
      p++;
      return { kind: 'match', selector: s, op: t.text, value: value() };
    }
    if (peekWord('is')) {
      p++;
      const negated = peekWord('not') && (p++, true);
      if (!peekWord('empty')) throw bad(`"empty" is expected ${where()}`);
      p++;
      return { kind: 'match', selector: s, op: negated ? 'is not empty' : 'is empty' };
    }
    const negated = peekWord('not') && (p++, true);
    if (peekWord('contains') || peekWord('matches')) {
      const op = tokens[p++]!.text.toLowerCase();
      return { kind: 'match', selector: s, op: negated ? `not ${op}` : op, value: value() };
    }
    throw bad(`an operator (==, !=, contains, matches, is empty, in) is expected ${where()}`);
  };
  const unary = (): Expr => {
    if (peekWord('not')) {
      p++;
      return { kind: 'not', inner: unary() };
    }
    if (tokens[p]?.kind === 'paren' && tokens[p]!.text === '(') {
      p++;
      const inner = or();
      if (tokens[p]?.text !== ')') throw bad(`")" is expected ${where()}`);
      p++;
      return inner;
    }
    return match();
  };
  const and = (): Expr => {
    let left = unary();
    while (peekWord('and')) {
      p++;
      left = { kind: 'and', left, right: unary() };
    }
    return left;
  };
  const or = (): Expr => {
    let left = and();
    while (peekWord('or')) {
      p++;
      left = { kind: 'or', left, right: and() };
    }
    return left;
  };
  const tree = or();
  if (p < tokens.length) throw bad(`unexpected ${JSON.stringify(tokens[p]!.text)} ${where()}`);
  return tree;
}

const MISSING = Symbol('missing');

/** Looks a selector up: struct fields by name (any case, as Consul does), map keys exactly. */
function resolve(item: unknown, path: string[], maps: ReadonlySet<string>, seen: string[] = []): unknown {
  if (path.length === 0) return item;
  const [head, ...rest] = path as [string, ...string[]];
  if (Array.isArray(item)) return item.map((x) => resolve(x, path, maps, seen)).flat().filter((x) => x !== MISSING);
  if (item === null || typeof item !== 'object') return MISSING;
  const obj = item as Record<string, unknown>;
  if (maps.has(seen.join('.'))) return head in obj ? resolve(obj[head], rest, maps, [...seen, head]) : undefined;
  const key = head in obj ? head : Object.keys(obj).find((k) => k.toLowerCase() === head.toLowerCase());
  if (key === undefined) return MISSING;
  return resolve(obj[key], rest, maps, [...seen, key]);
}

const text = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

function evaluate(node: Expr, item: unknown, maps: ReadonlySet<string>): boolean {
  if (node.kind === 'and' || node.kind === 'or') {
    return node.kind === 'and' ? evaluate(node.left, item, maps) && evaluate(node.right, item, maps) : evaluate(node.left, item, maps) || evaluate(node.right, item, maps);
  }
  if (node.kind === 'not') return !evaluate(node.inner, item, maps);
  const v = resolve(item, node.selector, maps);
  if (v === MISSING) throw bad(`selector ${JSON.stringify(node.selector.join('.'))} is not a field of this endpoint's answer`);
  const isList = Array.isArray(v);
  const isMap = v !== null && typeof v === 'object' && !isList;
  switch (node.op) {
    case '==':
    case '!=': {
      if (isList || isMap) throw bad(`${node.selector.join('.')} is a collection: use contains, in or is empty, not ${node.op}`);
      return (text(v) === node.value) === (node.op === '==');
    }
    case 'in':
    case 'contains':
    case 'not in':
    case 'not contains': {
      const has = isList ? (v as unknown[]).some((x) => text(x) === node.value) : isMap ? node.value! in (v as object) : text(v).includes(node.value!);
      return has === !node.op.startsWith('not');
    }
    case 'is empty':
    case 'is not empty': {
      const empty = v === undefined || v === null || v === '' || (isList && (v as unknown[]).length === 0) || (isMap && Object.keys(v as object).length === 0);
      return empty === (node.op === 'is empty');
    }
    default: {
      let re: RegExp;
      try {
        re = new RegExp(node.value!);
      } catch (err) {
        throw bad(`invalid regular expression ${JSON.stringify(node.value)}: ${(err as Error).message}`);
      }
      if (isList || isMap) throw bad(`${node.selector.join('.')} is a collection: matches takes a single value`);
      return re.test(text(v)) === (node.op === 'matches');
    }
  }
}

/** Every selector of the tree is a field of `template`: checked once, before any item. */
function checkSelectors(node: Expr, template: unknown, maps: ReadonlySet<string>): void {
  if (node.kind === 'and' || node.kind === 'or') {
    checkSelectors(node.left, template, maps);
    checkSelectors(node.right, template, maps);
  } else if (node.kind === 'not') checkSelectors(node.inner, template, maps);
  else if (resolve(template, node.selector, maps) === MISSING) throw bad(`selector ${JSON.stringify(node.selector.join('.'))} is not a field of this endpoint's answer`);
}

export interface FilterShape {
  /** The selector paths that are maps with the user's keys (Meta, NodeMeta, TaggedAddresses): under them any key is valid, matched exactly. */
  maps?: Iterable<string>;
  /** An item shaped like the endpoint's answers: a selector it does not have is refused at once, even when the answer is empty. */
  template?: unknown;
}

/** Compiles a `?filter=` expression; throws a RegistryValidationError (HTTP 400) that says what is wrong. */
export function compileFilter(expression: string, shape: FilterShape = {}): Filter {
  if (expression.length > MAX_FILTER_CHARS) throw bad(`at most ${MAX_FILTER_CHARS} characters`);
  if (expression.trim() === '') throw bad('the expression is empty');
  const tree = parse(expression);
  const maps = new Set(shape.maps ?? []);
  if (shape.template !== undefined) checkSelectors(tree, shape.template, maps);
  return (item) => evaluate(tree, item, maps);
}
