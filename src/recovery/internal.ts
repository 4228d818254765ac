import { constants, promises as fs } from 'node:fs';
import { nodeZlib } from '../core/builtins.js';

/** zlib's CRC-32 (Node ≥ 20.15), loaded with zlib on first use: the checkpoint frame's and the journal record's. */
let crc32Fn: ((data: Uint8Array, value?: number) => number) | undefined;
export const crc32 = (data: Uint8Array, value?: number): number => (crc32Fn ??= nodeZlib().crc32)(data, value);

/** fsyncs a folder, so the names it gained or lost survive a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
