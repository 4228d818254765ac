import { RegistryValidationError } from './errors.js';
import { formatDuration, parseDuration } from './duration.js';
import type { CheckDefinition, CheckState, InstanceHealth, ServiceInstance } from './registry.js';

/** The node name our agent reports (Consul responses always carry one). */
export const NODE_NAME = 'steadfast';
export const NODE_ADDRESS = '127.0.0.1';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

const fold = (key: string): string => key.toLowerCase().replace(/_/g, '');

/**
 * Consul decodes request bodies case-insensitively and also accepts snake_case (`name`,
 * `enable_tag_override`, `check.ttl`): each key is given its canonical spelling here, so the
 * checks that follow see one name per field. A key that is not one of `fields` is kept as sent
 * (and refused as unknown by the caller); a field sent twice in different spellings is refused.
 */
export function canonicalKeys(body: Json, fields: Iterable<string>, path = ''): Json {
  const canonical = new Map<string, string>();
  for (const f of fields) canonical.set(fold(f), f);
  const out: Json = {};
  const sent = new Map<string, string>();
  for (const [key, value] of Object.entries(body)) {
    const name = canonical.get(fold(key)) ?? key;
    const before = sent.get(name);
    if (before !== undefined) throw new RegistryValidationError(`${path}${name}`, `${path}${name} is given twice (${JSON.stringify(before)} and ${JSON.stringify(key)})`);
    sent.set(name, key);
    out[name] = value;
  }
  return out;
}

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
  // steadfast's own: a TTL check judged by φ accrual
  'PhiThreshold', 'PhiAcceptablePause',
]);
const UNSUPPORTED_CHECKS = ['Args', 'ScriptArgs', 'GRPC', 'H2PING', 'UDP', 'DockerContainerID', 'AliasNode', 'AliasService', 'OSService'];

function checkFromConsul(input: unknown, path: string, fields: ReadonlySet<string> = CHECK_FIELDS): CheckDefinition {
  if (!isObject(input)) throw new RegistryValidationError(path.slice(0, -1) || 'body', `${path.slice(0, -1) || 'the body'} must be an object`);
  const c = canonicalKeys(input, [...fields, ...UNSUPPORTED_CHECKS], path);
  for (const k of UNSUPPORTED_CHECKS) {
    if (c[k] !== undefined) throw new RegistryValidationError(`${path}${k}`, `${path}${k}: check type not supported; use HTTP, TCP or TTL`);
  }
  for (const k of Object.keys(c)) if (!fields.has(k)) throw new RegistryValidationError(`${path}${k}`, `${path}${k}: unknown check field`);
  const http = str(c, 'HTTP', path, { max: 2048 });
  const tcp = str(c, 'TCP', path);
  const ttlMs = duration(c, 'TTL', path);
  const kinds = [http, tcp, ttlMs].filter((x) => x !== undefined).length;
  if (kinds !== 1) throw new RegistryValidationError(path.slice(0, -1) || 'body', `${path.slice(0, -1) || 'a check'} needs exactly one of HTTP, TCP or TTL`);
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
  const phiThreshold = c.PhiThreshold;
  const phiPause = duration(c, 'PhiAcceptablePause', path);
  if (phiThreshold !== undefined || phiPause !== undefined) {
    if (ttlMs === undefined) throw new RegistryValidationError(`${path}PhiThreshold`, `${path}PhiThreshold and PhiAcceptablePause judge a TTL check's updates; give TTL too`);
    if (phiThreshold !== undefined && (typeof phiThreshold !== 'number' || !(phiThreshold >= 0.5 && phiThreshold <= 50))) throw new RegistryValidationError(`${path}PhiThreshold`, `${path}PhiThreshold must be a number from 0.5 to 50 (8: a 10⁻⁸ chance of a false suspicion under the model)`);
    def.phi = { ...(phiThreshold !== undefined ? { threshold: phiThreshold as number } : {}), ...(phiPause !== undefined ? { acceptableHeartbeatPauseMs: phiPause } : {}) };
  }
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
export function instanceFromConsul(input: unknown): ServiceInstance {
  if (!isObject(input)) throw new RegistryValidationError('body', 'Request decode failed: the body must be a JSON object');
  const body = canonicalKeys(input, SERVICE_FIELDS);
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
  // EnableTagOverride, Weights and TaggedAddresses change nothing here (no anti-entropy, no DNS);
  // a Connect kind would: this registry has no service mesh.
  const kind = str(body, 'Kind', '');
  if (kind !== undefined && kind !== '' && kind !== 'typical') throw new RegistryValidationError('Kind', `Kind ${JSON.stringify(kind)} is not supported: this registry has no Connect service mesh (omit Kind for a typical service)`);
  const checks: CheckDefinition[] = [];
  if (body.Check !== undefined && body.Check !== null) checks.push(checkFromConsul(body.Check, 'Check.'));
  if (body.Checks !== undefined && body.Checks !== null) {
    if (!Array.isArray(body.Checks) || body.Checks.length > 16) throw new RegistryValidationError('Checks', 'Checks must be an array of at most 16 checks');
    body.Checks.forEach((c, i) => checks.push(checkFromConsul(c, `Checks[${i}].`)));
  }
  return { id, service: name, address: str(body, 'Address', '') ?? '', port, tags: tags as string[], meta: meta as Record<string, string>, checks };
}

const CHECK_REGISTER_FIELDS: ReadonlySet<string> = new Set([...CHECK_FIELDS, 'ServiceID']);

/**
 * PUT /v1/agent/check/register body → the service instance it belongs to and the check. As in
 * Consul, Name is required and the ID defaults to it; this registry keeps checks on services
 * only, so ServiceID is required too.
 */
export function checkRegistrationFromConsul(input: unknown): { instanceId: string; check: CheckDefinition & { id: string } } {
  if (!isObject(input)) throw new RegistryValidationError('body', 'Request decode failed: the body must be a JSON object');
  const body = canonicalKeys(input, [...CHECK_REGISTER_FIELDS, ...UNSUPPORTED_CHECKS]);
  const { ServiceID: _serviceId, ...rest } = body;
  const name = str(body, 'Name', '', { required: true })!;
  const instanceId = str(body, 'ServiceID', '');
  if (instanceId === undefined || instanceId === '') throw new RegistryValidationError('ServiceID', 'ServiceID is required: this registry keeps checks on registered services only (node checks are not supported)');
  const check = checkFromConsul(rest, '');
  return { instanceId, check: { ...check, id: check.id ?? name, name } };
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
    Datacenter: DATACENTER,
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

/** The agent's own node check, which Consul reports next to every service's checks. */
export function serfHealth(): Json {
  return {
    Node: NODE_NAME,
    CheckID: 'serfHealth',
    Name: 'Serf Health Status',
    Status: 'passing',
    Notes: '',
    Output: 'Agent alive and reachable',
    ServiceID: '',
    ServiceName: '',
    ServiceTags: [],
    Type: '',
    Definition: {},
  };
}

/** This registry is one node, one datacenter: the agent, the catalog's node and the member are all it. */
export const DATACENTER = 'dc1';
const NODE_ID = '5eadfa57-0000-4000-8000-000000000001';
/** The Consul HTTP API version the answers follow (clients gate features on it). */
const CONSUL_API_VERSION = '1.17.0';

export function nodeToConsul(index = 1): Json {
  return { ID: NODE_ID, Node: NODE_NAME, Address: NODE_ADDRESS, Datacenter: DATACENTER, TaggedAddresses: { lan: NODE_ADDRESS, wan: NODE_ADDRESS }, Meta: {}, CreateIndex: 1, ModifyIndex: index };
}

export function memberToConsul(): Json {
  return {
    Name: NODE_NAME,
    Addr: NODE_ADDRESS,
    Port: 8301,
    Tags: { role: 'consul', dc: DATACENTER, port: '8300', id: NODE_ID, vsn: '2', vsn_min: '2', vsn_max: '3', build: CONSUL_API_VERSION },
    Status: 1,
    ProtocolMin: 1,
    ProtocolMax: 5,
    ProtocolCur: 2,
    DelegateMin: 2,
    DelegateMax: 5,
    DelegateCur: 4,
  };
}

/** GET /v1/agent/self: what discovery clients (Prometheus', VictoriaMetrics') read the datacenter from. */
export function selfToConsul(): Json {
  return {
    Config: { Datacenter: DATACENTER, PrimaryDatacenter: DATACENTER, NodeName: NODE_NAME, NodeID: NODE_ID, Server: true, Revision: '', Version: CONSUL_API_VERSION, BuildDate: '' },
    DebugConfig: {},
    Coord: null,
    Member: memberToConsul(),
    Stats: {},
    Meta: {},
    xDS: null,
  };
}

/** One entry of GET /v1/catalog/service/:name. */
export function catalogToConsul(h: InstanceHealth, index?: { createIndex: number; modifyIndex: number }): Json {
  const i = h.instance;
  return {
    ID: NODE_ID,
    Node: NODE_NAME,
    Address: NODE_ADDRESS,
    Datacenter: DATACENTER,
    TaggedAddresses: { lan: NODE_ADDRESS, wan: NODE_ADDRESS },
    NodeMeta: {},
    ServiceKind: '',
    ServiceID: i.id,
    ServiceName: i.service,
    ServiceTags: i.tags ?? [],
    ServiceAddress: i.address,
    ServiceWeights: { Passing: 1, Warning: 1 },
    ServiceMeta: i.meta ?? {},
    ServicePort: i.port,
    ServiceEnableTagOverride: false,
    ...(index ? { CreateIndex: index.createIndex, ModifyIndex: index.modifyIndex } : {}),
  };
}

export function healthToConsul(h: InstanceHealth, index?: { createIndex: number; modifyIndex: number }): Json {
  return {
    Node: { ID: NODE_ID, Node: NODE_NAME, Address: NODE_ADDRESS, Datacenter: DATACENTER, TaggedAddresses: { lan: NODE_ADDRESS, wan: NODE_ADDRESS }, Meta: {} },
    Service: serviceToConsul(h.instance, index),
    Checks: [serfHealth(), ...h.checks.map(checkToConsul)],
  };
}

export { formatDuration };
