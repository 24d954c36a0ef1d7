import { execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import type { RedisNode } from '../../lib/index.js';
import { freePort, launchRedis } from './redis-server.js';

const run = promisify(execFile);

/**
 * Polls `check` until it returns true, failing with `what` after `timeoutMs`. For conditions
 * Redis only exposes by query (CLUSTER INFO, INFO replication): the wait ends as soon as the
 * condition holds, never after a fixed time.
 */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** One short-lived admin connection, closed after `fn`, never retrying. */
async function admin<T>(node: RedisNode, fn: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({
    host: node.host,
    port: node.port,
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: 2000,
    commandTimeout: 2000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

function field(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

// WAIT counts this connection's writes: the replica has the key when it returns 1.
async function setReplicated(client: Redis, key: string, value: string): Promise<void> {
  await client.set(key, value);
  const acked = (await client.call('WAIT', '1', '5000')) as number;
  if (acked < 1) throw new Error(`the replica did not acknowledge ${key}`);
}

type ClusterSlots = [number, number, ...[string, number, ...unknown[]][]][];

function slotOwners(slots: ClusterSlots): { from: number; to: number; master: RedisNode }[] {
  return slots.flatMap(([from, to, master]) =>
    master === undefined ? [] : [{ from, to, master: { host: master[0], port: master[1] } }],
  );
}

class Processes {
  readonly children = new Map<number, ChildProcess>();

  async kill(port: number): Promise<void> {
    const child = this.children.get(port);
    if (child === undefined) return;
    this.children.delete(port);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  async killAll(): Promise<void> {
    await Promise.all([...this.children.keys()].map((port) => this.kill(port)));
  }
}

const NODE_ARGS = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];

/** A 3-master, 3-replica Redis Cluster on loopback ports, in its own temporary directory. */
export interface RedisClusterHarness {
  nodes: RedisNode[];
  /** The nodes currently serving slots as masters. */
  masters(): Promise<RedisNode[]>;
  /** Kills one node (SIGKILL: no goodbye to the cluster). */
  kill(node: RedisNode): Promise<void>;
  /** Kills every node. */
  killAll(): Promise<void>;
  /** Restarts every killed node from its nodes.conf and waits for the cluster to be ok. */
  restartAll(): Promise<void>;
  /** Waits until every live node reports cluster_state:ok and every replica is in sync. */
  waitHealthy(): Promise<void>;
  /** Writes a key on the master of its slot, once its replica has it too; returns that master. */
  seed(key: string, value: string): Promise<RedisNode>;
  close(): Promise<void>;
}

export async function startRedisCluster(nodeTimeoutMs = 1000): Promise<RedisClusterHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'eap-cluster-'));
  const processes = new Processes();
  const ports: number[] = [];
  for (let i = 0; i < 6; i += 1) ports.push(await freePort());
  const nodes = ports.map((port) => ({ host: '127.0.0.1', port }));
  const launch = async (port: number): Promise<void> => {
    const child = await launchRedis([
      '--port',
      String(port),
      ...NODE_ARGS,
      '--dir',
      dir,
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      `nodes-${port}.conf`,
      '--cluster-node-timeout',
      String(nodeTimeoutMs),
      // A replica takes over however long its link was down: the suite runs on a busy machine.
      '--cluster-replica-validity-factor',
      '0',
    ]);
    processes.children.set(port, child);
  };

  const liveNodes = (): RedisNode[] => nodes.filter((n) => processes.children.has(n.port));
  const masters = async (): Promise<RedisNode[]> => {
    for (const node of liveNodes()) {
      const slots = await admin(node, (c) => c.cluster('SLOTS')).catch(() => undefined);
      if (slots === undefined) continue;
      return slotOwners(slots).map(({ master }) => master);
    }
    return [];
  };
  const waitHealthy = (): Promise<void> =>
    waitFor('cluster_state:ok on every node, each master with a live replica', async () => {
      for (const node of liveNodes()) {
        const info = await admin(node, (c) => c.cluster('INFO'));
        if (field(info, 'cluster_state') !== 'ok') return false;
        const replication = await admin(node, (c) => c.info('replication'));
        if (field(replication, 'role') === 'slave') {
          if (field(replication, 'master_link_status') !== 'up') return false;
        }
      }
      return true;
    });

  try {
    await Promise.all(ports.map(launch));
    await run('redis-cli', [
      '--cluster',
      'create',
      ...nodes.map((n) => `${n.host}:${String(n.port)}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ]);
    await waitHealthy();
  } catch (err) {
    await processes.killAll();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    nodes,
    masters,
    kill: (node) => processes.kill(node.port),
    killAll: () => processes.killAll(),
    async restartAll() {
      await Promise.all(ports.filter((p) => !processes.children.has(p)).map(launch));
      await waitHealthy();
    },
    waitHealthy,
    async seed(key, value) {
      const { slot, owners } = await admin(liveNodes()[0] as RedisNode, async (c) => ({
        slot: await c.cluster('KEYSLOT', key),
        owners: slotOwners(await c.cluster('SLOTS')),
      }));
      const owner = owners.find(({ from, to }) => slot >= from && slot <= to)?.master;
      if (owner === undefined) throw new Error(`no master serves slot ${slot}`);
      await admin(owner, (c) => setReplicated(c, key, value));
      return owner;
    },
    async close() {
      await processes.killAll();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** One master, one replica and three sentinels on loopback ports. */
export interface SentinelHarness {
  name: string;
  sentinels: RedisNode[];
  /** Where the sentinels say the master is. */
  master(): Promise<RedisNode>;
  /** Writes a key on the master, once the replica has it too. */
  seed(key: string, value: string): Promise<void>;
  /**
   * Kills the current master and resolves when the sentinels announce its successor
   * (+switch-master), with both moments (performance.now()).
   */
  failover(): Promise<{ killedAt: number; announcedAt: number; master: RedisNode }>;
  close(): Promise<void>;
}

export async function startSentinelGroup(downAfterMs = 1000): Promise<SentinelHarness> {
  const name = 'sessions';
  const dir = await mkdtemp(join(tmpdir(), 'eap-sentinel-'));
  const processes = new Processes();
  const masterPort = await freePort();
  const replicaPort = await freePort();
  const sentinelPorts = [await freePort(), await freePort(), await freePort()];
  const sentinels = sentinelPorts.map((port) => ({ host: '127.0.0.1', port }));

  const master = async (): Promise<RedisNode> => {
    for (const sentinel of sentinels) {
      const addr = await admin(sentinel, (c) =>
        c.call('SENTINEL', 'get-master-addr-by-name', name),
      ).catch(() => undefined);
      if (Array.isArray(addr)) return { host: String(addr[0]), port: Number(addr[1]) };
    }
    throw new Error('no sentinel knows the master');
  };

  try {
    processes.children.set(
      masterPort,
      await launchRedis(['--port', String(masterPort), ...NODE_ARGS]),
    );
    processes.children.set(
      replicaPort,
      await launchRedis([
        '--port',
        String(replicaPort),
        ...NODE_ARGS,
        '--replicaof',
        '127.0.0.1',
        String(masterPort),
      ]),
    );
    await waitFor('the replica to sync', async () => {
      const info = await admin({ host: '127.0.0.1', port: replicaPort }, (c) =>
        c.info('replication'),
      );
      return field(info, 'master_link_status') === 'up';
    });
    for (const port of sentinelPorts) {
      const conf = join(dir, `sentinel-${port}.conf`);
      await writeFile(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${masterPort} 2`,
          `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
          `sentinel failover-timeout ${name} 10000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      processes.children.set(port, await launchRedis([conf, '--sentinel'], '+monitor master'));
    }
    // A failover needs a quorum that knows the replica and each other (hello messages, every 2 s).
    await waitFor('every sentinel to know the replica and the two other sentinels', async () => {
      for (const sentinel of sentinels) {
        const state = await admin(sentinel, (c) => c.call('SENTINEL', 'master', name));
        const fields = state as string[];
        const get = (key: string): string | undefined => fields[fields.indexOf(key) + 1];
        if (get('num-slaves') !== '1' || get('num-other-sentinels') !== '2') return false;
      }
      return true;
    });
  } catch (err) {
    await processes.killAll();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    name,
    sentinels,
    master,
    async seed(key, value) {
      await admin(await master(), (c) => setReplicated(c, key, value));
    },
    async failover() {
      const old = await master();
      const watcher = new Redis({ host: sentinels[0]?.host, port: sentinels[0]?.port });
      watcher.on('error', () => undefined);
      try {
        await watcher.subscribe('+switch-master');
        const announced = new Promise<number>((resolve) => {
          watcher.on('message', (_channel: string, message: string) => {
            // "<name> <old ip> <old port> <new ip> <new port>"
            if (message.startsWith(`${name} `)) resolve(performance.now());
          });
        });
        const killedAt = performance.now();
        await processes.kill(old.port);
        const announcedAt = await announced;
        return { killedAt, announcedAt, master: await master() };
      } finally {
        watcher.disconnect();
      }
    },
    async close() {
      await processes.killAll();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
