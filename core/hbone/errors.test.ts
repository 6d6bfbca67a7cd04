import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorForStatus, HboneErrorCode, responseFlagFor } from '#core/hbone/errors.ts';

test('statuses map to codes and response flags', () => {
  const cases: [number, string, string][] = [
    [401, HboneErrorCode.denied, 'DENY'],
    [503, HboneErrorCode.upstream, 'CONNECT'],
    [400, HboneErrorCode.badRequest, 'BAD_REQUEST'],
    [502, HboneErrorCode.status, 'CONNECT'],
  ];
  for (const [status, code, flag] of cases) {
    const e = errorForStatus(status, '10.0.0.1:80', '10.0.0.1:15008');
    assert.equal(e.code, code);
    assert.equal(e.status, status);
    assert.equal(responseFlagFor(status), flag);
  }
  assert.equal(responseFlagFor(200), '-');
});
