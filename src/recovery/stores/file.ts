import { randomBytes } from 'node:crypto';
import { constants, promises as fs, readdirSync } from 'node:fs';
import path from 'node:path';
import { checkBoolean, checkOptions, checkString } from '../../core/options.js';
import { FramedCheckpointStore, type BaseStoreOptions } from '../store.js';

export interface FileCheckpointStoreOptions extends BaseStoreOptions {
  /** The folder; one sub-folder per stream. Created if missing. */
  dir: string;
  /**
   * fsync the file before it becomes visible and the folder after. Default true; turn it
   * off only for data you can lose (a checkpoint then survives a process crash but not
   * a power cut).
   */
  fsync?: boolean;
}

export const FILE_STORE_DEFAULTS = Object.freeze({ fsync: true });

const NAME_RE = /^(\d{16})\.ckpt$/;
const TEMP_PREFIX = '.tmp-';
/** A temp file this old belongs to a writer that crashed; prune() removes it. */
const STALE_TEMP_MS = 10 * 60 * 1000;
const MAX_ID_RACES = 10_000;

const fileName = (id: number): string => `${String(id).padStart(16, '0')}.ckpt`;

/**
 * Checkpoints as files: `<dir>/<stream>/<id>.ckpt`, each a checksummed frame.
 *
 * A save writes a temp file, fsyncs it, then `link`s it to its final name and fsyncs the
 * folder: the checkpoint appears whole or not at all (Redis's RDB does the same with
 * rename). `link`, unlike `rename`, fails rather than replace an existing file, so two
 * processes saving to one stream at once each get their own id and neither overwrites the
 * other. Ids are the largest present + 1; the newest file is never pruned, so ids stay
 * monotonic across restarts.
 */
export class FileCheckpointStore extends FramedCheckpointStore {
  readonly dir: string;
  private readonly fsync: boolean;
  private readonly nextIds = new Map<string, number>();
  private readonly streamDirs = new Set<string>();

  constructor(options: FileCheckpointStoreOptions) {
    const scope = 'FileCheckpointStore';
    if (options === undefined) throw new TypeError(`${scope}: options { dir } are required`);
    const o = checkOptions<FileCheckpointStoreOptions>(scope, options, ['dir', 'fsync', 'codec', 'codecs', 'maxBytes', 'clock']);
    super(scope, o);
    this.dir = path.resolve(checkString(scope, 'dir', o.dir));
    this.fsync = checkBoolean(scope, 'fsync', o.fsync ?? FILE_STORE_DEFAULTS.fsync);
  }

  private streamDir(stream: string): string {
    return path.join(this.dir, stream);
  }

  private async ensureStreamDir(stream: string): Promise<string> {
    const dir = this.streamDir(stream);
    if (this.streamDirs.has(stream)) return dir;
    const created = await fs.mkdir(dir, { recursive: true });
    if (created !== undefined && this.fsync) {
      // New folders must themselves survive a crash: fsync each parent that gained an entry.
      await fsyncDir(path.dirname(dir));
      await fsyncDir(path.dirname(path.dirname(dir))).catch(() => {});
    }
    this.streamDirs.add(stream);
    return dir;
  }

  protected async writeFrame(stream: string, frame: Buffer): Promise<number> {
    const dir = await this.ensureStreamDir(stream);
    const temp = path.join(dir, `${TEMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}.ckpt`);
    const handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
    try {
      await handle.writeFile(frame);
      if (this.fsync) await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      // Read the folder on every save: another process may have written (or pruned) meanwhile,
      // and a cached id alone could fall into a pruned gap below the newest.
      let id = Math.max(this.nextIds.get(stream) ?? 1, (await this.maxId(stream)) + 1);
      for (let races = 0; ; races++) {
        try {
          await fs.link(temp, path.join(dir, fileName(id)));
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || races >= MAX_ID_RACES) throw err;
          // Another process took this id: look again.
          id = Math.max(id, await this.maxId(stream)) + 1;
        }
      }
      this.nextIds.set(stream, id + 1);
      if (this.fsync) await fsyncDir(dir);
      return id;
    } finally {
      await fs.unlink(temp).catch(() => {});
    }
  }

  protected async readFrame(stream: string, id: number): Promise<Buffer | undefined> {
    try {
      return await fs.readFile(path.join(this.streamDir(stream), fileName(id)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  protected async ids(stream: string): Promise<number[]> {
    let names: string[];
    try {
      // Synchronous on purpose: a stream folder holds a handful of files (retention keeps it
      // small), and a listing costs ~20 µs inline against ~300 µs through the thread pool —
      // the difference between restore at 0.7× and at parity with a bare readFile.
      names = readdirSync(this.streamDir(stream));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const ids: number[] = [];
    for (const n of names) {
      const m = NAME_RE.exec(n);
      if (m) ids.push(Number(m[1]));
    }
    return ids.sort((a, b) => a - b);
  }

  private async maxId(stream: string): Promise<number> {
    const ids = await this.ids(stream);
    return ids.length ? ids[ids.length - 1]! : 0;
  }

  protected async remove(stream: string, ids: number[]): Promise<void> {
    const dir = this.streamDir(stream);
    for (const id of ids) await fs.unlink(path.join(dir, fileName(id))).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    await this.removeStaleTemps(dir);
    if (this.fsync) await fsyncDir(dir);
  }

  private async removeStaleTemps(dir: string): Promise<void> {
    const now = Date.now();
    for (const n of await fs.readdir(dir)) {
      if (!n.startsWith(TEMP_PREFIX)) continue;
      const p = path.join(dir, n);
      const st = await fs.stat(p).catch(() => undefined);
      if (st && now - st.mtimeMs > STALE_TEMP_MS) await fs.unlink(p).catch(() => {});
    }
  }

  protected async closeBackend(): Promise<void> {}
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
