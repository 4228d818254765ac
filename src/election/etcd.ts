import { systemClock, type Clock } from '../core/clock.js';
import type { Campaign, Etcd3 } from 'etcd3';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import type { Election, ElectionEvents } from './election.js';

/**
 * Leader election on etcd's election recipe (etcd3's `client.election(name).campaign(id)`): the
 * candidates queue as keys under the election prefix, each on its own lease; the oldest key
 * leads. The fencing token is that key's create revision — etcd's revision only grows, so a later
 * leader always has a larger token. A lost lease ends the campaign (`revoked`) and a new one starts.
 */
export class EtcdElection implements Election {
  private readonly events = new Emitter<ElectionEvents>();
  private campaign: Campaign | undefined;
  private token: number | undefined;
  private leader = false;
  private stopped = false;

  constructor(
    readonly name: string,
    readonly candidateId: string,
    readonly ttlMs: number,
    private readonly client: Etcd3,
    private readonly ownsClient: boolean,
    private readonly clock: Clock = systemClock,
  ) {
    this.start();
  }

  get isLeader(): boolean {
    return this.leader;
  }

  get fencingToken(): number | undefined {
    return this.leader ? this.token : undefined;
  }

  on<K extends keyof ElectionEvents>(name: K, listener: Listener<ElectionEvents[K]>): Disposable {
    return this.events.on(name, listener);
  }

  async resign(): Promise<void> {
    this.stopped = true;
    const c = this.campaign;
    this.campaign = undefined;
    if (this.leader) {
      this.leader = false;
      this.events.emit('revoked', { reason: 'resigned' });
    }
    await c?.resign().catch(() => {});
    if (this.ownsClient) this.client.close();
  }

  private start(): void {
    if (this.stopped) return;
    const election = this.client.election(this.name, Math.max(1, Math.ceil(this.ttlMs / 1000)));
    const campaign = election.campaign(this.candidateId);
    this.campaign = campaign;
    campaign.on('elected', () => {
      void (async () => {
        try {
          const key = await campaign.getCampaignKey();
          const res = await this.client.get(key).exec();
          const rev = Number(res.kvs[0]?.create_revision ?? res.header.revision);
          if (this.campaign !== campaign || this.stopped) return;
          this.token = rev;
          this.leader = true;
          this.events.emit('elected', { fencingToken: rev });
        } catch (error) {
          this.events.emit('error', { error });
        }
      })();
    });
    campaign.on('error', (error) => {
      if (this.campaign !== campaign) return;
      this.events.emit('error', { error });
      if (this.leader) {
        this.leader = false;
        this.events.emit('revoked', { reason: `lease lost: ${(error as Error).message}` });
      }
      this.campaign = undefined;
      // Campaign again after a short pause (etcd's own lease keeps the timing of leadership).
      const t = this.clock.setTimeout(() => this.start(), 500);
      t.unref?.();
    });
  }
}
