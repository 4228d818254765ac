import type http from 'node:http';
import { Gateway } from '../balance/gateway.js';
import { sendJson } from '../core/http.js';
import { withProcessMetrics } from './node-metrics.js';
import type { Registry } from '../registry/registry.js';
import { cpuMicros, demoGatewayRoute, hostOf, type DemoNodeConfig } from './config.js';

/**
 * What the load's client probes on every gateway (any answer is "up"): the gateway's own health
 * page, answered by the gateway process itself, never shed.
 */
export const GATEWAY_PROBE_PATH = '/_steadfast/health';

/** Where a demo gateway answers the supervisor's poll (under the gateway's admin prefix). */
export const GATEWAY_STATUS_PATH = '/_steadfast/status';

/**
 * One of the demo's gateways, in its own process: the route to the web tier (found through the
 * registry), `GET /metrics` (the gateway's metrics and the process's), and `GET /_steadfast/status` — its route's requests, attempts, retries, sheds and
 * limit, and this process's CPU time — for the supervisor's report.
 */
export function createGatewayNode(cfg: DemoNodeConfig, registry: Registry): { gateway: Gateway; start: () => Promise<void>; close: () => Promise<void> } {
  const status = (req: http.IncomingMessage, res: http.ServerResponse): boolean => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== GATEWAY_STATUS_PATH) return false;
    sendJson(res, 200, { id: cfg.id, role: 'gateway', pid: process.pid, route: gateway.routeStats()[0], cpuMicros: cpuMicros() });
    return true;
  };
  const gateway = new Gateway({ routes: [demoGatewayRoute()], registry, port: cfg.port, host: hostOf(cfg), admin: status });
  // Its /metrics (the gateway's own) with this process's figures too, like every demo process.
  withProcessMetrics(gateway.metrics, 'gateway');
  return {
    gateway,
    start: async () => void (await gateway.listen()),
    close: () => gateway.close(),
  };
}
