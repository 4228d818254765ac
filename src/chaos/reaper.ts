import type { ChildProcess } from 'node:child_process';
import { nodeChildProcess } from '../core/builtins.js';
import { InvalidOptionError } from '../core/errors.js';

/**
 * The reaper's whole program. It reads commands from its stdin, one per line: `add PID`, `del PID`,
 * `dir PATH`, `done`. When stdin ends without `done` — its supervisor died, even by SIGKILL,
 * which closes the pipe — it SIGKILLs every process it was told of (SIGKILL ends a process that
 * is SIGSTOPped too, which could never notice on its own that its parent is gone), waits for
 * them to go, removes the folders, and exits.
 */
const PROGRAM = `
const fs = require('node:fs');
const pids = new Set(); const dirs = new Set(); let buf = '';
const alive = (p) => { try { process.kill(p, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
process.stdin.on('data', (c) => {
  buf += c;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const line = buf.slice(0, i); buf = buf.slice(i + 1);
    const sp = line.indexOf(' '); const cmd = sp < 0 ? line : line.slice(0, sp); const arg = sp < 0 ? '' : line.slice(sp + 1);
    if (cmd === 'add') pids.add(Number(arg)); else if (cmd === 'del') pids.delete(Number(arg));
    else if (cmd === 'dir') dirs.add(arg); else if (cmd === 'done') process.exit(0);
  }
});
process.stdin.on('end', () => {
  for (const p of pids) { try { process.kill(p, 'SIGKILL'); } catch {} }
  const until = Date.now() + 5000;
  const finish = () => {
    if ([...pids].some(alive) && Date.now() < until) return setTimeout(finish, 20);
    for (const d of dirs) { try { fs.rmSync(d, { recursive: true, force: true }); } catch {} }
    process.exit(0);
  };
  finish();
});
`;

/**
 * A small process that outlives its supervisor only to clean up after it: the processes it
 * started and the folders it made go away whatever state they are in when the supervisor dies.
 * It runs in its own process group (a Ctrl-C to the supervisor's group does not reach it) and
 * never keeps the supervisor alive.
 */
export class Reaper {
  private readonly child: ChildProcess;
  private closed = false;

  private constructor() {
    this.child = nodeChildProcess().spawn(process.execPath, ['-e', PROGRAM], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    this.child.on('error', () => {});
    this.child.stdin!.on('error', () => {});
    this.child.unref();
    (this.child.stdin as unknown as { unref?: () => void }).unref?.();
  }

  static start(): Reaper {
    return new Reaper();
  }

  /** The reaper's own pid (for tests). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Kill this process if the supervisor dies. */
  track(pid: number | undefined): void {
    if (pid !== undefined && pid > 0) this.send(`add ${pid}`);
  }

  /** It has exited: forget it (its pid may be reused). */
  untrack(pid: number | undefined): void {
    if (pid !== undefined && pid > 0) this.send(`del ${pid}`);
  }

  /** Remove this folder if the supervisor dies. */
  removeOnCrash(dir: string): void {
    if (/[\n\r]/.test(dir)) throw new InvalidOptionError(`Reaper: a folder name with a line break cannot be tracked: ${JSON.stringify(dir)}`);
    this.send(`dir ${dir}`);
  }

  /** The supervisor cleaned up itself: the reaper leaves without touching anything. */
  close(): void {
    if (this.closed) return;
    this.send('done');
    this.closed = true;
    this.child.stdin!.end();
  }

  private send(line: string): void {
    if (this.closed || this.child.stdin!.destroyed) return;
    this.child.stdin!.write(`${line}\n`);
  }
}
