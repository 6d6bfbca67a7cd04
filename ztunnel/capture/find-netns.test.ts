// The namespace-finding rules against a fake /proc and /var/run/netns in a temp dir: shared
// namespaces are hard links to one file (one inode), as nsfs shows one namespace under many
// paths. No root needed; the real namespaces are covered in capture.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { link, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { isWeftError } from '#core/errors.ts';
import { listNetns, pickNetns, podUidFromCgroup, startTimeFromStat, type NetnsRoots } from './find-netns.ts';

const UID_A = '0f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b';
const UID_B = 'aaaabbbb-cccc-4ddd-8eee-ffff00001111';

test('podUidFromCgroup reads the pod UID kubelet puts in cgroup paths', () => {
  const cases: [string, string | undefined][] = [
    [`0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_A.replaceAll('-', '_')}.slice/cri-containerd-0123.scope`, UID_A],
    [`0::/kubepods.slice/kubepods-pod${UID_A.replaceAll('-', '_')}.slice/crio-0123.scope`, UID_A],
    [`12:pids:/kubepods/burstable/pod${UID_A}/0123abcd\n11:memory:/kubepods/burstable/pod${UID_A}/0123abcd`, UID_A],
    [`0::/kubepods/pod${UID_A.toUpperCase()}/0123`, UID_A],
    ['0::/system.slice/containerd.service', undefined],
    ['0::/user.slice/user-0.slice/session-1.scope', undefined],
    [`0::/kubepods/burstable/pod${UID_A}x/0123`, undefined],
    ['', undefined],
  ];
  for (const [text, want] of cases) assert.equal(podUidFromCgroup(text), want, text);
});

test('startTimeFromStat counts fields from after the command name', () => {
  const rest = 'S 1 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10';
  assert.equal(startTimeFromStat(`42 (pause) ${rest}`), 98765);
  assert.equal(startTimeFromStat(`42 (a b) (c)) ${rest}`), 98765);
  assert.equal(startTimeFromStat('garbage'), undefined);
});

describe('listNetns and pickNetns on a fake host', () => {
  let root = '';
  let roots: NetnsRoots;
  const ns = (name: string) => join(root, 'nsfs', name);

  async function proc(pid: string, netns: string, o: { cgroup?: string; start?: number } = {}): Promise<void> {
    const target = join(root, 'proc', pid, 'ns', 'net');
    await mkdir(dirname(target), { recursive: true });
    await link(ns(netns), target);
    await writeFile(join(root, 'proc', pid, 'cgroup'), o.cgroup ?? '0::/system.slice/x.service\n');
    await writeFile(join(root, 'proc', pid, 'stat'), `${pid} (p) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 ${o.start ?? 100} 0 0`);
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'weft-find-netns-'));
    roots = { procDir: join(root, 'proc'), namedDir: join(root, 'netns') };
    await mkdir(join(root, 'nsfs'));
    await mkdir(roots.namedDir);
    for (const n of ['host', 'mine', 'podA', 'podB', 'loose', 'named']) await writeFile(ns(n), n);
    await proc('1', 'host');
    await proc('self', 'mine');
    await proc('300', 'host', { cgroup: `0::/kubepods/besteffort/pod${UID_B}/hostnet` }); // a host-network pod
    // Pod A: its sandbox (oldest) and an app container, no name.
    await proc('120', 'podA', { cgroup: `0::/kubepods/burstable/pod${UID_A}/app`, start: 900 });
    await proc('110', 'podA', { cgroup: `0::/kubepods/burstable/pod${UID_A}/pause`, start: 500 });
    // Pod B: named by the runtime, and its processes.
    await link(ns('podB'), join(roots.namedDir, 'cni-1234'));
    await proc('210', 'podB', { cgroup: `0::/kubepods.slice/kubepods-pod${UID_B.replaceAll('-', '_')}.slice/crio-1.scope` });
    // A namespace of no pod, held by a process, and a named one with no process at all.
    await proc('400', 'loose');
    await link(ns('named'), join(roots.namedDir, 'plain'));
    await writeFile(join(roots.namedDir, '.tmp'), '');
  });

  after(async () => { await rm(root, { recursive: true, force: true }); });

  test('lists each namespace once, by name when it has one, else by its oldest process; never ours or the host\'s', async () => {
    const list = await listNetns(roots);
    const byPath = new Map(list.map((c) => [c.path.slice(root.length), c.podUids]));
    assert.deepEqual([...byPath.keys()].sort(), ['/netns/cni-1234', '/netns/plain', '/proc/110/ns/net', '/proc/400/ns/net']);
    assert.deepEqual(byPath.get('/proc/110/ns/net'), [UID_A]);
    assert.deepEqual(byPath.get('/netns/cni-1234'), [UID_B]);
    assert.deepEqual(byPath.get('/netns/plain'), []);
    assert.equal(new Set(list.map((c) => c.ino)).size, list.length);
  });

  test('picks by pod UID first, then by the one namespace holding the address', async () => {
    const list = await listNetns(roots);
    const at = (...names: string[]) => async (path: string) => names.some((n) => path.endsWith(n));
    const asked: string[] = [];
    const recording = async (path: string) => { asked.push(path); return true; };
    // The UID names pod A's namespace: only it is asked.
    assert.equal(await pickNetns(list, { uid: UID_A, ip: '10.0.0.5' }, recording), join(roots.procDir, '110', 'ns', 'net'));
    assert.deepEqual(asked, [join(roots.procDir, '110', 'ns', 'net')]);
    // The UID's namespace lacks the address yet: not found, never another namespace.
    assert.equal(await pickNetns(list, { uid: UID_A, ip: '10.0.0.5' }, at('plain')), undefined);
    // Unknown UID: the address decides, among namespaces no pod claims.
    assert.equal(await pickNetns(list, { uid: 'other', ip: '10.0.0.6' }, at('plain')), join(roots.namedDir, 'plain'));
    assert.equal(await pickNetns(list, { uid: 'other', ip: '10.0.0.6' }, at('cni-1234')), undefined, 'pod B\'s namespace is not another pod\'s');
    assert.equal(await pickNetns(list, { uid: 'other', ip: '10.0.0.6' }, at()), undefined);
    await assert.rejects(pickNetns(list, { uid: 'other', ip: '10.0.0.6' }, at('plain', '400/ns/net')),
      (err: unknown) => isWeftError(err, 'WEFT_ERR_CAPTURE_NETNS') && /more than one/.test(err.message));
  });
});
