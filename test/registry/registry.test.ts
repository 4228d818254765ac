import { describe } from 'vitest';
import { EmbeddedRegistry, EtcdRegistry, HttpRegistry, RegistryServer } from '../../src/registry/index.js';
import { describeWithEtcd } from '../support/servers.js';
import { registryConformance } from './conformance.js';

describe('EmbeddedRegistry', () => {
  registryConformance(async () => {
    const registry = new EmbeddedRegistry();
    return { registry, cleanup: () => registry.close() };
  });
});

describe('HttpRegistry against our RegistryServer (Consul HTTP API)', () => {
  registryConformance(async () => {
    const embedded = new EmbeddedRegistry();
    const server = await new RegistryServer({ registry: embedded, port: 0 }).listen();
    const registry = new HttpRegistry({ url: server.url, watchWaitMs: 2000 });
    return {
      registry,
      cleanup: async () => {
        await registry.close();
        await server.close();
        await embedded.close();
      },
    };
  });
});

describeWithEtcd('EtcdRegistry on a real etcd', (etcd) => {
  let n = 0;
  registryConformance(async () => {
    const registry = new EtcdRegistry({ endpoints: [etcd().url], prefix: `/test-${process.pid}-${++n}/`, ttlMs: 2000 });
    return { registry, cleanup: () => registry.close() };
  });
});
