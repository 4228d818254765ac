import { createRequire } from 'node:module';
import { ErrorCode, SteadfastError } from './errors.js';

/**
 * Packages steadfast loads only when a component that needs them is used, so that importing
 * any entry point costs no backend client (ioredis, etcd3 and its gRPC stack, undici,
 * prom-client) — see docs/architecture.md, "Dependencies".
 *
 * Loaded synchronously with `require` (each is CommonJS), so constructors keep their
 * synchronous APIs; the module is cached by Node after the first call.
 */
const require = createRequire(import.meta.url);

/** ioredis and etcd3 are optional peer dependencies: installed by those who use Redis or etcd. */
const OPTIONAL_PEERS = new Set(['ioredis', 'etcd3']);

/** A component needs a package that is not installed. */
export class MissingDependencyError extends SteadfastError {
  constructor(
    readonly packageName: string,
    readonly feature: string,
  ) {
    super(
      ErrorCode.MISSING_DEPENDENCY,
      OPTIONAL_PEERS.has(packageName)
        ? `${feature} needs the package '${packageName}', an optional peer dependency of steadfast that is not installed: npm install ${packageName}`
        : `${feature} needs the package '${packageName}', which steadfast depends on but cannot find: reinstall steadfast (npm install steadfast)`,
      { retryable: false },
    );
  }
}

/** The package `name`, for `feature` (named in the error when the package is missing). */
export function loadPackage<T>(name: 'ioredis' | 'etcd3' | 'undici' | 'prom-client', feature: string): T {
  try {
    return require(name) as T;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e?.code === 'MODULE_NOT_FOUND' && String(e.message).includes(`'${name}'`)) throw new MissingDependencyError(name, feature);
    throw err;
  }
}

/** A getter that loads the package on its first call and keeps it (no lookup per call on hot paths). */
export function lazyPackage<T>(name: 'ioredis' | 'etcd3' | 'undici' | 'prom-client', feature: string): () => T {
  let m: T | undefined;
  return () => (m ??= loadPackage<T>(name, feature));
}

/** undici: HTTP for the failover client, the registry client, the load generator. */
export const undici = lazyPackage<typeof import('undici')>('undici', 'steadfast HTTP clients');
/** prom-client: the gateway's /metrics and Prometheus reports. */
export const promClient = lazyPackage<typeof import('prom-client')>('prom-client', 'steadfast metrics');
