import { InvalidOptionError } from './errors.js';
/**
 * Typed events. A subscription returns a `Disposable`; emitting with no listener
 * costs one length check, so policies can emit on their hot path.
 */
export interface Disposable {
  dispose(): void;
}

export type Listener<T> = (event: T) => void;

/** Default for a listener that throws: rethrow outside the emitting call, as an uncaught exception. */
export function rethrowAsync(err: unknown): void {
  queueMicrotask(() => {
    throw err;
  });
}

export class Emitter<Events extends { [K in keyof Events]: unknown }> {
  private listeners: { [K in keyof Events]?: Listener<Events[K]>[] } = {};

  /** @param onListenerError receives what a listener throws; default rethrowAsync */
  constructor(private readonly onListenerError: (err: unknown) => void = rethrowAsync) {}

  /** Subscribes to `name`; the returned handle removes exactly this subscription. */
  on<K extends keyof Events>(name: K, listener: Listener<Events[K]>): Disposable {
    if (typeof listener !== 'function') {
      throw new InvalidOptionError(`on('${String(name)}'): listener must be a function, got ${typeof listener}`);
    }
    // Copy on write: a listener that subscribes or disposes during emit cannot disturb it.
    this.listeners[name] = [...(this.listeners[name] ?? []), listener];
    let disposed = false;
    return {
      dispose: () => {
        if (disposed) return;
        disposed = true;
        const list = this.listeners[name];
        if (!list) return;
        const i = list.indexOf(listener);
        if (i >= 0) this.listeners[name] = [...list.slice(0, i), ...list.slice(i + 1)];
      },
    };
  }

  /** Subscribes for the next event only. */
  once<K extends keyof Events>(name: K, listener: Listener<Events[K]>): Disposable {
    const sub = this.on(name, (event) => {
      sub.dispose();
      listener(event);
    });
    return sub;
  }

  /** True when someone listens to `name` (lets callers skip building an event object). */
  has<K extends keyof Events>(name: K): boolean {
    const list = this.listeners[name];
    return list !== undefined && list.length > 0;
  }

  /**
   * Calls each listener in subscription order. A listener that throws does not stop
   * the others or the operation that emitted; its error is reported asynchronously
   * (as an uncaught exception would be), never swallowed.
   */
  emit<K extends keyof Events>(name: K, event: Events[K]): void {
    const list = this.listeners[name];
    if (list === undefined || list.length === 0) return;
    for (const listener of list) {
      try {
        listener(event);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }

  listenerCount<K extends keyof Events>(name: K): number {
    return this.listeners[name]?.length ?? 0;
  }
}
