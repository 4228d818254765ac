import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/core/random.js';
import { demoFaultPick, demoPartitionPlan } from '../../src/demo/network-faults.js';

const nodes = [...['db-1', 'db-2', 'db-3'].map((name) => ({ name, role: 'db' as const })), ...['web-1', 'web-2', 'web-3'].map((name) => ({ name, role: 'web' as const })), ...['gateway-1', 'gateway-2'].map((name) => ({ name, role: 'gateway' as const }))];
const hosts = ['registry', ...nodes.map((n) => n.name)];

describe('the demo’s partitions (demoPartitionPlan)', () => {
  it('draws each kind, keeps the registry on the majority side, and cuts only leader ↔ registry for the leader', () => {
    const plan = demoPartitionPlan(nodes, hosts, () => 'web-2', true);
    const r = seededRandom(5);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const p = plan(r);
      seen.add(p.label.split(' ')[0]!);
      if ('isolate' in p.spec) expect(p.spec.isolate).toMatch(/^db-\d$/);
      else if ('groups' in p.spec) {
        const [a, b] = p.spec.groups as [string[], string[]];
        if (p.label.startsWith('cut')) {
          // Every host is in a group with every other, except web-2 and the registry.
          expect(p.targets).toEqual(['web-2']);
          expect(a.includes('registry') || b.includes('web-2')).toBe(false);
          expect(hosts.every((h) => a.includes(h) || b.includes(h))).toBe(true);
        } else {
          expect(a.map((h) => h.split('-')[0]).sort()).toEqual(['db', 'gateway', 'web']);
          expect(b).toContain('registry');
          expect(a.length + b.length).toBe(hosts.length);
          expect(p.targets).toEqual(a);
        }
      }
    }
    expect(seen).toEqual(new Set(['isolate', 'split', 'cut']));
  });

  it('makes no leader cut before there is a leader, nor without a registry process', () => {
    for (const [leader, registry] of [[undefined, true], ['web-1', false]] as const) {
      const plan = demoPartitionPlan(nodes, hosts, () => leader, registry);
      const r = seededRandom(2);
      for (let i = 0; i < 100; i++) expect(plan(r).label.startsWith('cut')).toBe(false);
    }
  });

  it('skews the leader, and a web node while there is none', () => {
    let leader: string | undefined;
    const pick = demoFaultPick(nodes, () => leader);
    const r = seededRandom(3);
    expect(pick('skew', r)).toMatch(/^web-\d$/);
    leader = 'web-3';
    expect(pick('skew', r)).toBe('web-3');
    expect(nodes.map((n) => n.name)).toContain(pick('loss', r));
  });
});
