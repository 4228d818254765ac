import { request } from 'undici';
import { HistoryChecker } from '../metrics/history.js';

/**
 * After the run: every cart that took a write is read back through `url` until a complete
 * answer (every replica of its preference list answered) comes, and the write ids found are
 * checked against what was acknowledged. `attempts` tries per cart, `retryDelayMs` apart.
 */
export async function readBack(
  url: string,
  carts: Iterable<string>,
  history: HistoryChecker,
  { concurrency = 16, attempts = 10, retryDelayMs = 200 }: { concurrency?: number; attempts?: number; retryDelayMs?: number } = {},
): Promise<ReturnType<HistoryChecker['check']>> {
  const read = new Set<string>();
  const list = [...carts];
  for (let i = 0; i < list.length; i += concurrency) {
    await Promise.all(list.slice(i, i + concurrency).map(async (cart) => {
      for (const id of await readCart(url, cart, attempts, retryDelayMs)) read.add(id);
    }));
  }
  return history.check(read);
}

/** The write ids in one cart, from a complete read. */
async function readCart(url: string, cart: string, attempts: number, retryDelayMs: number): Promise<string[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await request(`${url}/api/carts/${cart}`, { headersTimeout: 5000, bodyTimeout: 5000 });
      const body = (await res.body.json()) as { items?: Record<string, unknown>; complete?: boolean };
      if (res.statusCode === 200 && body.complete) return Object.keys(body.items ?? {});
    } catch {
      // try again
    }
    if (attempt >= attempts) throw new Error(`steadfast demo: could not read cart ${cart} back after the run`);
    await new Promise((r) => setTimeout(r, retryDelayMs));
  }
}
