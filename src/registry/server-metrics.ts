import type { Gauge, Counter, Registry as PromRegistry } from 'prom-client';
import { promClient } from '../core/packages.js';
import type { EmbeddedRegistry } from './embedded.js';

/**
 * The registry server's figures in `into`, read when scraped: instances and checks by status,
 * services, KV keys and bytes, sessions, the index, blocking queries waiting, a failing save,
 * and requests by method and endpoint (`requests`: "METHOD /v1/path/:arg" → count).
 */
export function registryMetrics(into: PromRegistry, r: EmbeddedRegistry, pending: () => number, requests: ReadonlyMap<string, number>): PromRegistry {

  const prom = promClient();
  const gauge = (name: string, help: string, labelNames: string[], read: () => { labels: Record<string, string>; value: number }[]): void =>
    void new prom.Gauge({
      name,
      help,
      labelNames,
      registers: [into],
      collect(this: Gauge) {
        this.reset();
        for (const { labels, value } of read()) this.set(labels, value);
      },
    });
  const count = <T>(items: T[], key: (t: T) => string, all: string[]): { labels: Record<string, string>; value: number }[] =>
    all.map((k) => ({ labels: { status: k }, value: items.filter((x) => key(x) === k).length }));
  gauge('steadfast_registry_instances', 'Registered service instances, by health (the worst of their checks)', ['status'], () => count(r.allInstances(), (h) => h.status, ['passing', 'warning', 'critical']));
  gauge('steadfast_registry_checks', 'Health checks, by status', ['status'], () => count(r.allChecks(), (c) => c.status, ['passing', 'warning', 'critical']));
  gauge('steadfast_registry_services', 'Service names registered', [], () => [{ labels: {}, value: new Set(r.allInstances().map((h) => h.instance.service)).size }]);
  gauge('steadfast_registry_kv_keys', 'KV keys held', [], () => [{ labels: {}, value: r.kv.keys() }]);
  gauge('steadfast_registry_kv_bytes', 'Bytes of KV keys and values held', [], () => [{ labels: {}, value: r.kv.bytes() }]);
  gauge('steadfast_registry_sessions', 'Sessions alive', [], () => [{ labels: {}, value: r.kv.listSessions().length }]);
  gauge('steadfast_registry_index', 'The change index (X-Consul-Index) now', [], () => [{ labels: {}, value: r.index }]);
  gauge('steadfast_registry_blocking_queries', 'Blocking queries waiting now', [], () => [{ labels: {}, value: pending() }]);
  gauge('steadfast_registry_persistence_failing', '1 while saving the registry state fails (writes are refused)', [], () => [{ labels: {}, value: r.persistenceError ? 1 : 0 }]);
  new prom.Counter({
    name: 'steadfast_registry_requests_total',
    help: 'HTTP API requests, by method and endpoint',
    labelNames: ['method', 'endpoint'],
    registers: [into],
    collect(this: Counter) {
      this.reset();
      for (const [key, n] of requests) {
        const [method, endpoint] = key.split(' ') as [string, string];
        this.inc({ method, endpoint }, n);
      }
    },
  });
  return into;
}
