import type { PartitionPlan } from '../chaos/network-chaos.js';
import type { Random } from '../core/random.js';
import type { DemoRole } from './config.js';

const one = <T>(list: readonly T[], r: Random): T => list[Math.floor(r() * list.length)]!;

/**
 * The demo's partitions, drawn with the network chaos' seeded random: a db node isolated; the
 * elected leader cut off from the registry while it still reaches every db node (only when there
 * is a leader and a registry process); or a minority — one db node, one web node, one gateway —
 * split from the rest, the registry always on the majority's side. `hosts`: every host, the
 * registry's included.
 */
export function demoPartitionPlan(nodes: readonly { name: string; role: DemoRole }[], hosts: readonly string[], leader: () => string | undefined, hasRegistry: boolean): (r: Random) => PartitionPlan {
  const ofRole = (role: DemoRole): string[] => nodes.filter((n) => n.role === role).map((n) => n.name);
  return (r) => {
    const now = leader();
    const kind = one(['isolate-db', 'split', ...(now && hasRegistry ? ['leader-registry'] : [])], r);
    if (kind === 'isolate-db') {
      const db = one(ofRole('db'), r);
      return { spec: { isolate: db }, targets: [db], label: `isolate ${db}` };
    }
    if (kind === 'leader-registry') {
      // Two groups that share every host but these two: only leader ↔ registry is cut.
      return { spec: { groups: [hosts.filter((h) => h !== 'registry'), hosts.filter((h) => h !== now)] }, targets: [now!], label: `cut ${now} (the leader) from the registry` };
    }
    const minority = (['db', 'web', 'gateway'] as const).map((role) => one(ofRole(role), r)).filter((h, i, a) => a.indexOf(h) === i);
    const rest = hosts.filter((h) => !minority.includes(h));
    return { spec: { groups: [minority, rest] }, targets: minority, label: `split ${minority.join(',')} | ${rest.join(',')}` };
  };
}

/** The host of a loss, flap or skew: the leader's clock for a skew (a web node before there is one), any node otherwise. */
export function demoFaultPick(nodes: readonly { name: string; role: DemoRole }[], leader: () => string | undefined): (kind: 'loss' | 'flap' | 'skew', r: Random) => string {
  const names = nodes.map((n) => n.name);
  const webs = nodes.filter((n) => n.role === 'web').map((n) => n.name);
  return (kind, r) => (kind === 'skew' ? (leader() ?? one(webs, r)) : one(names, r));
}
