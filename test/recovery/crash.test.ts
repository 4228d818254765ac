import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/core/random.js';
import { FileCheckpointStore, RedisCheckpointStore, type CheckpointStore } from '../../src/recovery/index.js';
import { Lines } from '../support/bundle.js';
import { describeNeeding, REDIS, startRedis, type RunningServer } from '../support/servers.js';

/** The writer, bundled once so each of the many children starts in milliseconds. */
let writer: string;
let bundleDir: string;
beforeAll(async () => {
  // Inside the project, so the bundle resolves ioredis from node_modules.
  bundleDir = mkdtempSync(path.join(process.cwd(), 'node_modules', '.steadfast-writer-'));
  writer = path.join(bundleDir, 'writer.mjs');
  await build({
    entryPoints: [path.join(import.meta.dirname, 'fixtures/checkpoint-writer.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: writer,
    external: ['ioredis'],
    logLevel: 'silent',
  });
});
afterAll(() => rmSync(bundleDir, { recursive: true, force: true }));

interface Writer {
  child: ChildProcess;
  /** Highest id acknowledged so far (0 before the first). */
  lastAcked(): number;
  acks(): number;
  waitForAcks(n: number): Promise<void>;
}

function startWriter(kind: 'file' | 'redis', where: string, stream: string, seed: number): Writer {
  const child = spawn(process.execPath, [writer, kind, where, stream, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'], cwd: process.cwd() });
  let last = 0;
  let count = 0;
  let stderr = '';
  const waiters: { n: number; resolve: () => void }[] = [];
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const lines = new Lines((line) => {
    const m = /^ack (\d+) /.exec(line);
    if (!m) return;
    last = Math.max(last, Number(m[1]));
    count++;
  });
  child.stdout!.on('data', (chunk: Buffer) => {
    lines.feed(chunk);
    for (const w of [...waiters]) if (count >= w.n) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  return {
    child,
    lastAcked: () => last,
    acks: () => count,
    waitForAcks: (n) =>
      new Promise<void>((resolve, reject) => {
        if (count >= n) return resolve();
        const timer = setTimeout(() => reject(new Error(`writer made ${count} of ${n} acks in 20 s; stderr: ${stderr}`)), 20_000);
        waiters.push({ n, resolve: () => (clearTimeout(timer), resolve()) });
        child.once('exit', (code) => reject(new Error(`writer exited with ${code}: ${stderr}`)));
      }),
  };
}

const killAndWait = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The newest checkpoint must be whole, self-consistent and no older than the last ack. */
async function expectNothingAcknowledgedLost(store: CheckpointStore, stream: string, lastAcked: number): Promise<number> {
  const latest = await store.latest<{ seq: number; payload: string; digest: string }>(stream);
  expect(latest, 'no valid checkpoint at all').toBeDefined();
  expect(latest!.id).toBeGreaterThanOrEqual(lastAcked);
  expect(createHash('sha256').update(latest!.data.payload).digest('hex')).toBe(latest!.data.digest);
  expect(latest!.data.payload.endsWith(`#${latest!.data.seq}`)).toBe(true);
  return latest!.id;
}

describe('FileCheckpointStore under SIGKILL of the writing process', () => {
  it('keeps every acknowledged checkpoint through 50 kills at random moments (seeded)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-crash-'));
    const random = seededRandom(2026);
    const store = new FileCheckpointStore({ dir });
    let previous = 0;
    try {
      for (let round = 0; round < 50; round++) {
        const w = startWriter('file', dir, 'crashy', round);
        await w.waitForAcks(1);
        await sleep(random() * 25);
        await killAndWait(w.child);
        const id = await expectNothingAcknowledgedLost(store, 'crashy', w.lastAcked());
        expect(id).toBeGreaterThanOrEqual(previous); // ids never go backwards across crashes
        previous = id;
      }
      const listed = await store.list('crashy');
      expect(listed.every((c) => c.valid)).toBe(true); // a killed writer leaves no torn checkpoint, only temp files
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describeNeeding(REDIS, 'RedisCheckpointStore with Redis itself SIGKILLed and restarted', () => {
  let redis: RunningServer;
  beforeAll(async () => {
    redis = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always']);
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('loses no acknowledged checkpoint across 50 kills of redis-server (appendfsync always)', async () => {
    const random = seededRandom(7);
    const w = startWriter('redis', redis.url, 'crashy', 1);
    const reader = new RedisCheckpointStore({ url: redis.url, prefix: 'crash:' });
    reader.client.on('error', () => {});
    let acksBefore = 0;
    try {
      for (let round = 0; round < 50; round++) {
        await w.waitForAcks(acksBefore + 1);
        await sleep(random() * 20);
        const lastAckedBeforeKill = w.lastAcked();
        redis = await redis.restart('SIGKILL');
        const id = await expectNothingAcknowledgedLost(reader, 'crashy', lastAckedBeforeKill);
        expect(id).toBeGreaterThan(0);
        acksBefore = w.acks();
      }
      // After the last restart the writer carries on; everything it acknowledged is there.
      await w.waitForAcks(acksBefore + 5);
    } finally {
      await killAndWait(w.child);
      await reader.close();
    }
    expect(w.acks()).toBeGreaterThan(50);
  }, 180_000);
});
