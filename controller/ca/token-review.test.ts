// TokenReview authentication: the pure mapping from a review to a client as a table, then the
// reviewer against the in-repo API server (audience, caching, sharing, an unreachable server).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { V1TokenReviewStatus } from '@kubernetes/client-node';
import { isWeftError } from '#core/errors.ts';
import { startApiServerHarness } from '#controller/source/testing/harness.ts';
import type { ApiServerHarness } from '#controller/source/testing/harness.ts';
import { CA_AUDIENCE, NODE_NAME_EXTRA, POD_NAME_EXTRA, TokenReviewer, clientOfReview } from './token-review.ts';
import type { ReviewDecision, ReviewMapping } from './token-review.ts';

const MAPPING: ReviewMapping = {
  trustDomain: 'cluster.local', audience: CA_AUDIENCE, ztunnel: { namespace: 'istio-system', name: 'ztunnel' },
  nodeOfPod: (ns, pod) => (ns === 'istio-system' && pod === 'ztunnel-old' ? 'node-b' : undefined),
  isWaypoint: (id) => id === 'spiffe://cluster.local/ns/shop/sa/waypoint',
};

const bound = (username: string, extra: Record<string, string[]>, audiences = [CA_AUDIENCE]): V1TokenReviewStatus => ({
  authenticated: true, audiences, user: { username, extra },
});

test('a review maps to a client only for a bound token of ztunnel or a waypoint', () => {
  const cases: [string, V1TokenReviewStatus | undefined, ReviewDecision['ok'], unknown][] = [
    ['ztunnel, node from the token', bound('system:serviceaccount:istio-system:ztunnel', { [POD_NAME_EXTRA]: ['ztunnel-x'], [NODE_NAME_EXTRA]: ['node-a'] }), true, { kind: 'ztunnel', node: 'node-a' }],
    ['ztunnel, node from the pod (no node-name extra)', bound('system:serviceaccount:istio-system:ztunnel', { [POD_NAME_EXTRA]: ['ztunnel-old'] }), true, { kind: 'ztunnel', node: 'node-b' }],
    ['ztunnel whose pod is unknown', bound('system:serviceaccount:istio-system:ztunnel', { [POD_NAME_EXTRA]: ['ztunnel-gone'] }), false, /node of ztunnel pod/],
    ['waypoint', bound('system:serviceaccount:shop:waypoint', { [POD_NAME_EXTRA]: ['waypoint-1'] }), true, { kind: 'waypoint', identity: 'spiffe://cluster.local/ns/shop/sa/waypoint' }],
    ['an app pod is no client', bound('system:serviceaccount:shop:web', { [POD_NAME_EXTRA]: ['web-1'] }), false, /neither ztunnel nor a waypoint/],
    ['ztunnel\'s account name in another namespace', bound('system:serviceaccount:shop:ztunnel', { [POD_NAME_EXTRA]: ['z'], [NODE_NAME_EXTRA]: ['node-a'] }), false, /neither/],
    ['a legacy (unbound) token', bound('system:serviceaccount:istio-system:ztunnel', { [NODE_NAME_EXTRA]: ['node-a'] }), false, /not bound to a pod/],
    ['wrong audience', bound('system:serviceaccount:shop:waypoint', { [POD_NAME_EXTRA]: ['w'] }, ['https://kubernetes.default.svc']), false, /audience istio-ca/],
    ['no audiences (an audience-blind server)', { authenticated: true, user: { username: 'system:serviceaccount:shop:waypoint', extra: { [POD_NAME_EXTRA]: ['w'] } } }, false, /audience/],
    ['a user, not a service account', bound('alice', { [POD_NAME_EXTRA]: ['w'] }), false, /not a service account/],
    ['not authenticated', { authenticated: false, error: 'token expired' }, false, /token expired/],
    ['no status', undefined, false, /not authenticated/],
  ];
  for (const [name, status, ok, want] of cases) {
    const got = clientOfReview(status, MAPPING);
    assert.equal(got.ok, ok, name);
    if (got.ok) assert.deepEqual(got.client, want, name);
    else assert.match(got.reason, want as RegExp, name);
  }
});

let h: ApiServerHarness;
before(async () => {
  h = await startApiServerHarness();
});
after(async () => {
  await h.close();
});

const reviews = (): number => h.server.requests.filter((r) => r.path === '/apis/authentication.k8s.io/v1/tokenreviews').length;

test('the reviewer asks the API server for audience istio-ca and caches the answer briefly', async () => {
  h.server.reviewableToken('zt-a', {
    username: 'system:serviceaccount:istio-system:ztunnel', audiences: [CA_AUDIENCE],
    extra: { [POD_NAME_EXTRA]: ['ztunnel-a'], [NODE_NAME_EXTRA]: ['node-a'] },
  });
  h.server.reviewableToken('api-only', {
    username: 'system:serviceaccount:istio-system:ztunnel', audiences: ['https://kubernetes.default.svc'],
    extra: { [POD_NAME_EXTRA]: ['ztunnel-a'], [NODE_NAME_EXTRA]: ['node-a'] },
  });
  let now = 1_000_000;
  const reviewer = new TokenReviewer({ ...MAPPING, kubeConfig: h.kubeConfig, cacheMs: 10_000, now: () => now });
  const start = reviews();
  // Concurrent requests with one token share one review.
  const [a, b] = await Promise.all([reviewer.authenticate('zt-a'), reviewer.authenticate('zt-a')]);
  assert.deepEqual(a, { kind: 'ztunnel', node: 'node-a' });
  assert.deepEqual(b, a);
  assert.equal(reviews() - start, 1);
  now += 5_000;
  assert.deepEqual(await reviewer.authenticate('zt-a'), a);
  assert.equal(reviews() - start, 1, 'answered from the cache');
  // The pod is gone and its token with it: after the cache period the review says so.
  h.server.reviewableToken('zt-a', undefined);
  now += 6_000;
  assert.equal(await reviewer.authenticate('zt-a'), undefined);
  assert.equal(reviews() - start, 2);
  assert.equal(await reviewer.authenticate('api-only'), undefined, 'a token for the API server is not one for the CA');
  assert.equal(await reviewer.authenticate('never-issued'), undefined);
  // Refusals are kept for a shorter time, so a pod that just started is not locked out long.
  h.server.reviewableToken('never-issued', {
    username: 'system:serviceaccount:shop:waypoint', audiences: [CA_AUDIENCE], extra: { [POD_NAME_EXTRA]: ['waypoint-1'] },
  });
  assert.equal(await reviewer.authenticate('never-issued'), undefined, 'still the cached refusal');
  now += 2_001;
  assert.deepEqual(await reviewer.authenticate('never-issued'), { kind: 'waypoint', identity: 'spiffe://cluster.local/ns/shop/sa/waypoint' });
});

test('an API server that cannot answer is an error, not a refusal, and is not cached', async () => {
  h.server.reviewableToken('wp', { username: 'system:serviceaccount:shop:waypoint', audiences: [CA_AUDIENCE], extra: { [POD_NAME_EXTRA]: ['waypoint-1'] } });
  const reviewer = new TokenReviewer({ ...MAPPING, kubeConfig: h.kubeConfig });
  h.server.failRequests((r) => (r.path.includes('tokenreviews') ? 503 : undefined));
  await assert.rejects(reviewer.authenticate('wp'), (err: unknown) => isWeftError(err, 'WEFT_ERR_TOKEN_REVIEW'));
  h.server.failRequests(undefined);
  assert.deepEqual(await reviewer.authenticate('wp'), { kind: 'waypoint', identity: 'spiffe://cluster.local/ns/shop/sa/waypoint' });
});
