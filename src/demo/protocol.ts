/**
 * What a demo node tells its supervisor, over Node's IPC channel (`process.send`). One module
 * both sides import, instead of lines on stdout matched with a regex.
 */
export type NodeMessage =
  /** The node restored, registered and serves; `info` is what its start reported (a db node: what it restored). */
  | { type: 'ready'; id: string; info: unknown }
  /** This web replica won the maintenance election with `fencingToken`. */
  | { type: 'elected'; id: string; fencingToken: number };

/** Sends `message` to the supervisor, if this process has one listening (a demo node started by hand has not). */
export function tellSupervisor(message: NodeMessage): void {
  if (typeof process.send === 'function' && process.connected) process.send(message);
}

/** Whether `value` is a NodeMessage (what arrives over IPC is only JSON). */
export function isNodeMessage(value: unknown): value is NodeMessage {
  if (value === null || typeof value !== 'object') return false;
  const m = value as Record<string, unknown>;
  if (typeof m.id !== 'string') return false;
  if (m.type === 'ready') return 'info' in m;
  if (m.type === 'elected') return Number.isSafeInteger(m.fencingToken) && (m.fencingToken as number) > 0;
  return false;
}
