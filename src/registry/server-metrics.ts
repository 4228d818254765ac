import type { Registry as PromRegistry } from 'prom-client';
import { registerSampled } from '../core/sampled-metric.js';
import type { EmbeddedRegistry } from './embedded.js';

const STATUSES = ['passing', 'warning', 'critical'] as const;

/**
 * The registry server's figures in `into`, read when scraped: instances and checks by status,
 * services, KV keys and bytes, sessions, the index, blocking queries waiting, a failing save,
 * and requests by method and endpoint (`requests`: "METHOD /v1/path/:arg" → count).
 */
export function registryMetrics(into: PromRegistry, r: EmbeddedRegistry, pending: () => number, requests: ReadonlyMap<string, number>): PromRegistry {
  const byStatus = (statuses: string[]) => STATUSES.map((status) => ({ labels: { status }, value: statuses.filter((x) => x === status).length }));
  const gauge = (name: string, help: string, read: () => number) => registerSampled(into, { name, help, type: 'gauge', read });
  registerSampled(into, { name: 'steadfast_registry_instances', help: 'Registered service instances, by health (the worst of their checks)', type: 'gauge', labelNames: ['status'], read: () => byStatus(r.allInstances().map((h) => h.status)) });
  registerSampled(into, { name: 'steadfast_registry_checks', help: 'Health checks, by status', type: 'gauge', labelNames: ['status'], read: () => byStatus(r.allChecks().map((c) => c.status)) });
  gauge('steadfast_registry_services', 'Service names registered', () => new Set(r.allInstances().map((h) => h.instance.service)).size);
  gauge('steadfast_registry_kv_keys', 'KV keys held', () => r.kv.keys());
  gauge('steadfast_registry_kv_bytes', 'Bytes of KV keys and values held', () => r.kv.bytes());
  gauge('steadfast_registry_sessions', 'Sessions alive', () => r.kv.listSessions().length);
  gauge('steadfast_registry_index', 'The change index (X-Consul-Index) now', () => r.index);
  gauge('steadfast_registry_blocking_queries', 'Blocking queries waiting now', pending);
  gauge('steadfast_registry_persistence_failing', '1 while saving the registry state fails (writes are refused)', () => (r.persistenceError ? 1 : 0));
  registerSampled(into, {
    name: 'steadfast_registry_requests_total',
    help: 'HTTP API requests, by method and endpoint',
    type: 'counter',
    labelNames: ['method', 'endpoint'],
    read: () =>
      [...requests].map(([key, value]) => {
        const [method, endpoint] = key.split(' ') as [string, string];
        return { labels: { method, endpoint }, value };
      }),
  });
  return into;
}
