import { RegistryValidationError } from './errors.js';
import { formatDuration, parseDuration } from './duration.js';
import type { CheckDefinition, CheckState, InstanceHealth, ServiceInstance } from './registry.js';

/** The node name our agent reports (Consul responses always carry one). */
export const NODE_NAME = 'steadfast';
export const NODE_ADDRESS = '127.0.0.1';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

function str(body: Json, field: string, path: string, { required = false, max = 256 } = {}): string | undefined {
  const v = body[field];
  if (v === undefined || v === null) {
    if (required) throw new RegistryValidationError(`${path}${field}`, `${path}${field} is required`);
    return undefined;
  }
  if (typeof v !== 'string' || v.length > max) throw new RegistryValidationError(`${path}${field}`, `${path}${field} must be a string of at most ${max} characters`);
  return v;
}

function duration(body: Json, field: string, path: string): number | undefined {
  const v = body[field];
  if (v === undefined || v === null || v === '') return undefined;
  const ms = typeof v === 'string' ? parseDuration(v) : undefined;
  if (ms === undefined || ms > 7 * 24 * 3_600_000) throw new RegistryValidationError(`${path}${field}`, `${path}${field}: invalid duration ${JSON.stringify(v)} (use Go syntax such as "10s", "500ms", "1m30s")`);
  return ms;
}

function int(body: Json, field: string, path: string, min: number, max: number): number | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) throw new RegistryValidationError(`${path}${field}`, `${path}${field} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return v as number;
}

const CHECK_FIELDS = new Set([
  'CheckID', 'ID', 'Name', 'HTTP', 'TCP', 'TTL', 'Interval', 'Timeout', 'DeregisterCriticalServiceAfter',
  'SuccessBeforePassing', 'FailuresBeforeWarning', 'FailuresBeforeCritical', 'Status', 'Notes', 'Method', 'Header', 'TLSSkipVerify',
]);
const UNSUPPORTED_CHECKS = ['Args', 'ScriptArgs', 'GRPC', 'H2PING', 'UDP', 'DockerContainerID', 'AliasNode', 'AliasService', 'OSService'];

function checkFromConsul(c: unknown, path: string): CheckDefinition {
  if (!isObject(c)) throw new RegistryValidationError(path.slice(0, -1), `${path.slice(0, -1)} must be an object`);
  for (const k of UNSUPPORTED_CHECKS) {
    if (c[k] !== undefined) throw new RegistryValidationError(`${path}${k}`, `${path}${k}: check type not supported; use HTTP, TCP or TTL`);
  }
  for (const k of Object.keys(c)) if (!CHECK_FIELDS.has(k)) throw new RegistryValidationError(`${path}${k}`, `${path}${k}: unknown check field`);
  const http = str(c, 'HTTP', path, { max: 2048 });
  const tcp = str(c, 'TCP', path);
  const ttlMs = duration(c, 'TTL', path);
  const kinds = [http, tcp, ttlMs].filter((x) => x !== undefined).length;
  if (kinds !== 1) throw new RegistryValidationError(path.slice(0, -1), `${path.slice(0, -1)} needs exactly one of HTTP, TCP or TTL`);
  if (http !== undefined && !/^https?:\/\/[^\s]+$/.test(http)) throw new RegistryValidationError(`${path}HTTP`, `${path}HTTP must be an http:// or https:// URL`);
  if (tcp !== undefined && !/^[^:\s]+:\d{1,5}$/.test(tcp)) throw new RegistryValidationError(`${path}TCP`, `${path}TCP must be host:port`);
  const intervalMs = duration(c, 'Interval', path);
  if ((http !== undefined || tcp !== undefined) && intervalMs === undefined) throw new RegistryValidationError(`${path}Interval`, `${path}Interval is required for HTTP and TCP checks`);
  if (ttlMs !== undefined && ttlMs < 1) throw new RegistryValidationError(`${path}TTL`, `${path}TTL must be at least 1ms`);
  if (intervalMs !== undefined && intervalMs < 1) throw new RegistryValidationError(`${path}Interval`, `${path}Interval must be at least 1ms`);
  const status = str(c, 'Status', path);
  if (status !== undefined && !['passing', 'warning', 'critical'].includes(status)) throw new RegistryValidationError(`${path}Status`, `${path}Status must be passing, warning or critical`);
  const failuresBeforeCritical = int(c, 'FailuresBeforeCritical', path, 0, 1000);
  const failuresBeforeWarning = int(c, 'FailuresBeforeWarning', path, 0, 1000);
  if (failuresBeforeWarning !== undefined && failuresBeforeWarning > (failuresBeforeCritical ?? 0)) {
    throw new RegistryValidationError(`${path}FailuresBeforeWarning`, `${path}FailuresBeforeWarning must not exceed FailuresBeforeCritical`);
  }
  const def: CheckDefinition = {};
  const id = str(c, 'CheckID', path) ?? str(c, 'ID', path);
  if (id !== undefined) def.id = id;
  const name = str(c, 'Name', path);
  if (name !== undefined) def.name = name;
  if (http !== undefined) def.http = http;
  if (tcp !== undefined) def.tcp = tcp;
  if (ttlMs !== undefined) def.ttlMs = ttlMs;
  if (intervalMs !== undefined) def.intervalMs = intervalMs;
  const timeoutMs = duration(c, 'Timeout', path);
  if (timeoutMs !== undefined) def.timeoutMs = Math.max(1, timeoutMs);
  const dereg = duration(c, 'DeregisterCriticalServiceAfter', path);
  if (dereg !== undefined) def.deregisterCriticalAfterMs = dereg;
  const sbp = int(c, 'SuccessBeforePassing', path, 0, 1000);
  if (sbp !== undefined) def.successBeforePassing = sbp;
  if (failuresBeforeWarning !== undefined) def.failuresBeforeWarning = failuresBeforeWarning;
  if (failuresBeforeCritical !== undefined) def.failuresBeforeCritical = failuresBeforeCritical;
  if (status !== undefined) def.status = status as CheckDefinition['status'];
  const notes = str(c, 'Notes', path, { max: 4096 });
  if (notes !== undefined) def.notes = notes;
  return def;
}

const SERVICE_FIELDS = new Set(['ID', 'Name', 'Tags', 'Address', 'Port', 'Meta', 'Check', 'Checks', 'EnableTagOverride', 'Weights', 'Kind', 'TaggedAddresses']);

/** PUT /v1/agent/service/register body → ServiceInstance; throws RegistryValidationError naming the field. */
export function instanceFromConsul(body: unknown): ServiceInstance {
  if (!isObject(body)) throw new RegistryValidationError('body', 'Request decode failed: the body must be a JSON object');
  for (const k of Object.keys(body)) if (!SERVICE_FIELDS.has(k)) throw new RegistryValidationError(k, `${k}: unknown field`);
  const name = str(body, 'Name', '', { required: true, max: 128 })!;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name)) throw new RegistryValidationError('Name', `Name must be letters, digits, '.', '_' or '-', got ${JSON.stringify(name)}`);
  const id = str(body, 'ID', '') ?? name;
  const tags = body.Tags ?? [];
  if (!Array.isArray(tags) || tags.length > 64 || tags.some((t) => typeof t !== 'string' || t.length > 256)) throw new RegistryValidationError('Tags', 'Tags must be an array of at most 64 strings');
  const meta = body.Meta ?? {};
  if (!isObject(meta) || Object.keys(meta).length > 64 || Object.values(meta).some((v) => typeof v !== 'string' || v.length > 512)) {
    throw new RegistryValidationError('Meta', 'Meta must be an object of at most 64 string values');
  }
  const port = int(body, 'Port', '', 0, 65535) ?? 0;
  const checks: CheckDefinition[] = [];
  if (body.Check !== undefined && body.Check !== null) checks.push(checkFromConsul(body.Check, 'Check.'));
  if (body.Checks !== undefined && body.Checks !== null) {
    if (!Array.isArray(body.Checks) || body.Checks.length > 16) throw new RegistryValidationError('Checks', 'Checks must be an array of at most 16 checks');
    body.Checks.forEach((c, i) => checks.push(checkFromConsul(c, `Checks[${i}].`)));
  }
  return { id, service: name, address: str(body, 'Address', '') ?? '', port, tags: tags as string[], meta: meta as Record<string, string>, checks };
}

export function serviceToConsul(i: ServiceInstance, index?: { createIndex: number; modifyIndex: number }): Json {
  return {
    ID: i.id,
    Service: i.service,
    Tags: i.tags ?? [],
    Meta: i.meta ?? {},
    Port: i.port,
    Address: i.address,
    Weights: { Passing: 1, Warning: 1 },
    EnableTagOverride: false,
    Datacenter: 'dc1',
    ...(index ? { CreateIndex: index.createIndex, ModifyIndex: index.modifyIndex } : {}),
  };
}

export function checkToConsul(c: CheckState): Json {
  return {
    Node: NODE_NAME,
    CheckID: c.id,
    Name: c.name,
    Status: c.status,
    Notes: c.notes,
    Output: c.output,
    ServiceID: c.instanceId,
    ServiceName: c.service,
    ServiceTags: [],
    Type: c.type,
    Definition: {},
  };
}

export function healthToConsul(h: InstanceHealth, index?: { createIndex: number; modifyIndex: number }): Json {
  return {
    Node: { ID: '', Node: NODE_NAME, Address: NODE_ADDRESS, Datacenter: 'dc1', TaggedAddresses: {}, Meta: {} },
    Service: serviceToConsul(h.instance, index),
    Checks: [
      {
        Node: NODE_NAME,
        CheckID: 'serfHealth',
        Name: 'Serf Health Status',
        Status: 'passing',
        Notes: '',
        Output: 'Agent alive and reachable',
        ServiceID: '',
        ServiceName: '',
        Type: '',
      },
      ...h.checks.map(checkToConsul),
    ],
  };
}

export { formatDuration };
