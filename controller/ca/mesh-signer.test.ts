// The signer's rotation steps: a new intermediate under a trusted root signs at once; a new root
// is trusted first and signs after the grace period; the old root leaves after the overlap.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { CertificateAuthority } from '#core/ca/authority.ts';
import { createCsr } from '#core/ca/csr.ts';
import { createRoot } from '#core/ca/root.ts';
import { testIntermediate } from '#core/ca/testing.ts';
import { MeshSigner } from './mesh-signer.ts';

const identity = 'spiffe://cluster.local/ns/shop/sa/web';
const fp = (pem: string): string => new X509Certificate(pem).fingerprint256;

async function pluggedUnder(root: { certPem: string; keyPem: string }, cn: string): Promise<{ ca: CertificateAuthority; signingPem: string }> {
  const mid = testIntermediate(root, cn);
  const ca = await CertificateAuthority.open({ pluggedCert: { certPem: mid.certPem, keyPem: mid.keyPem, chainPem: [], rootPem: root.certPem } });
  return { ca, signingPem: mid.certPem };
}

async function issuerOf(signer: MeshSigner): Promise<string> {
  const { csrPem } = await createCsr(identity);
  return fp(signer.sign(csrPem, { authorizedIdentities: [identity] }).chainPem[0] ?? '');
}

/** Resolves at the next call of the hook it hands out. */
function nextCall(): { hook: () => void; called: () => Promise<void> } {
  let waiters: (() => void)[] = [];
  return {
    hook: () => {
      for (const w of waiters) w();
      waiters = [];
    },
    called: () => new Promise((resolve) => waiters.push(resolve)),
  };
}

test('rotation: same root at once; a new root trusted, then signing after the grace, the old one retired after the overlap', async () => {
  const r1 = await createRoot({ trustDomain: 'cluster.local', ttlDays: 30, now: Date.now() });
  const r2 = await createRoot({ trustDomain: 'cluster.local', ttlDays: 30, now: Date.now() });
  const first = await pluggedUnder(r1, 'one');
  const roots = nextCall();
  const signers = nextCall();
  let bundleChanges = 0;
  const signer = new MeshSigner({
    ca: first.ca, graceMs: 100, overlapMs: 300, onSignerChanged: signers.hook,
    onRootsChanged: () => {
      bundleChanges++;
      roots.hook();
    },
  });
  try {
    assert.deepEqual(signer.rootsPem.map(fp), [fp(r1.certPem)]);
    assert.equal(await issuerOf(signer), fp(first.signingPem));

    const second = await pluggedUnder(r1, 'two');
    signer.replace(second.ca);
    assert.equal(bundleChanges, 0, 'a new intermediate leaves the bundle alone');
    assert.equal(signer.pending, false);
    assert.equal(signer.ca, second.ca);
    assert.equal(await issuerOf(signer), fp(second.signingPem));
    assert.deepEqual(signer.rootsPem.map(fp), [fp(r1.certPem)]);

    const third = await pluggedUnder(r2, 'three');
    const trusted = roots.called();
    const switched = signers.called();
    signer.replace(third.ca);
    await trusted;
    assert.equal(signer.pending, true);
    assert.deepEqual(signer.rootsPem.map(fp), [fp(r1.certPem), fp(r2.certPem)], 'the new root joins, the old CA still signs');
    assert.equal(await issuerOf(signer), fp(second.signingPem));

    const reordered = roots.called();
    await switched;
    await reordered;
    const retired = roots.called();
    assert.equal(signer.pending, false);
    assert.equal(await issuerOf(signer), fp(third.signingPem));
    assert.deepEqual(signer.rootsPem.map(fp), [fp(r2.certPem), fp(r1.certPem)], 'the signing root first, the old one still trusted');

    await retired;
    assert.deepEqual(signer.rootsPem.map(fp), [fp(r2.certPem)], 'after the overlap only the new root');
    assert.equal(bundleChanges, 3, 'the new root joined, went first when its CA took over, the old one left');
  } finally {
    signer.close();
  }
});
