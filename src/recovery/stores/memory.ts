import { checkOptions } from '../../core/options.js';
import { FramedCheckpointStore, type BaseStoreOptions } from '../store.js';

export type MemoryCheckpointStoreOptions = BaseStoreOptions;

/**
 * Checkpoints in this process's memory, for unit tests. Frames are stored encoded and
 * verified on read exactly as on disk, so the same tests hold for every backend.
 */
export class MemoryCheckpointStore extends FramedCheckpointStore {
  private readonly streams = new Map<string, { next: number; frames: Map<number, Buffer> }>();

  constructor(options?: MemoryCheckpointStoreOptions) {
    super('MemoryCheckpointStore', checkOptions<MemoryCheckpointStoreOptions>('MemoryCheckpointStore', options, ['codec', 'codecs', 'maxBytes', 'clock']));
  }

  /** For tests: replace a stored frame (e.g. with corrupted bytes). */
  tamper(stream: string, id: number, mutate: (frame: Buffer) => Buffer): void {
    const s = this.streams.get(stream);
    const frame = s?.frames.get(id);
    if (!s || !frame) throw new Error(`MemoryCheckpointStore.tamper: no checkpoint ${stream}#${id}`);
    s.frames.set(id, mutate(Buffer.from(frame)));
  }

  protected async writeFrame(stream: string, frame: Buffer): Promise<number> {
    let s = this.streams.get(stream);
    if (!s) this.streams.set(stream, (s = { next: 1, frames: new Map() }));
    const id = s.next++;
    s.frames.set(id, Buffer.from(frame));
    return id;
  }

  protected async readFrame(stream: string, id: number): Promise<Buffer | undefined> {
    return this.streams.get(stream)?.frames.get(id);
  }

  protected async ids(stream: string): Promise<number[]> {
    return [...(this.streams.get(stream)?.frames.keys() ?? [])].sort((a, b) => a - b);
  }

  protected async remove(stream: string, ids: number[]): Promise<void> {
    const s = this.streams.get(stream);
    for (const id of ids) s?.frames.delete(id);
  }

  protected async closeBackend(): Promise<void> {}
}
