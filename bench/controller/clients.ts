// Child process of the controller scale benchmark: runs many ConfigClients (one per node) so
// the controller's memory and CPU are measured apart from its clients'. Reports every
// applied update to the parent over IPC.
import { ConfigClient } from '#core/config/client.ts';

interface Start {
  url: string;
  rootsPem: string[];
  nodes: { node: string; token: string }[];
}

function isStart(v: unknown): v is Start {
  return typeof v === 'object' && v !== null && 'url' in v && 'rootsPem' in v && 'nodes' in v;
}

const clients: ConfigClient[] = [];
process.on('message', (m: unknown) => {
  if (m === 'stop') {
    void Promise.all(clients.map((c) => c.close())).then(() => process.exit(0));
    return;
  }
  if (!isStart(m)) return;
  m.nodes.forEach(({ node, token }, i) => {
    // Keys only: a hundred full stores in one process would measure this process's garbage
    // collector rather than the push path (each real proxy holds its own store).
    const store = new Set<string>();
    const c = new ConfigClient({
      url: m.url, client: { kind: 'ztunnel', node }, token, rootsPem: m.rootsPem,
      apply: (u) => {
        if (u.snapshot) store.clear();
        for (const r of u.removed) store.delete(`${r.kind}/${r.key}`);
        for (const r of u.updated) store.add(`${r.kind}/${r.key}`);
        return { rejected: [] };
      },
    });
    c.on('update', (e) => process.send?.({ i, version: e.version, size: store.size }));
    c.start();
    clients.push(c);
  });
});
