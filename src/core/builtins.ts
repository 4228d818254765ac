/**
 * Node's own modules that cost milliseconds to load (node:http alone ~10 ms on the machines we
 * measure on), loaded when first used instead of when steadfast is imported: a service that
 * imports `retry` does not load an HTTP server, a TCP proxy and a process supervisor.
 * (process.getBuiltinModule: Node ≥ 20.16.)
 */
export const nodeHttp = (): typeof import('node:http') => process.getBuiltinModule('node:http');
export const nodeNet = (): typeof import('node:net') => process.getBuiltinModule('node:net');
export const nodeChildProcess = (): typeof import('node:child_process') => process.getBuiltinModule('node:child_process');
export const nodeCrypto = (): typeof import('node:crypto') => process.getBuiltinModule('node:crypto');
export const nodeZlib = (): typeof import('node:zlib') => process.getBuiltinModule('node:zlib');
export const nodeStream = (): typeof import('node:stream') => process.getBuiltinModule('node:stream');
