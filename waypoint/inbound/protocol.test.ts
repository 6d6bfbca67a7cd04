import { test } from 'node:test';
import assert from 'node:assert/strict';
import { declaredProtocol, detectHttpVersion, detectProtocol, H2_PREFACE } from './protocol.ts';

test('declared protocol follows the Service port appProtocol', () => {
  const cases: [string | undefined, string][] = [
    [undefined, 'detect'], ['', 'detect'], ['http', 'http1'], ['HTTP', 'http1'], ['kubernetes.io/http', 'http1'],
    ['http2', 'http2'], ['grpc', 'http2'], ['h2c', 'http2'], ['kubernetes.io/h2c', 'http2'], ['tcp', 'tcp'],
    ['mysql', 'tcp'], ['something-else', 'detect'],
  ];
  for (const [input, want] of cases) assert.equal(declaredProtocol(input), want, String(input));
});

test('detection from the first bytes', () => {
  const cases: [string | Buffer, string][] = [
    ['GET / HTTP/1.1\r\n', 'http1'],
    ['POST /x HTTP/1.1\r\n', 'http1'],
    ['M-SEARCH * HTTP/1.1\r\n', 'http1'],
    [H2_PREFACE, 'http2'],
    [H2_PREFACE.subarray(0, 5), 'more'],
    ['GE', 'more'],
    ['\x16\x03\x01\x02\x00', 'tcp'],
    ['hello world', 'tcp'],
    ['get / HTTP/1.1\r\n', 'tcp'],
  ];
  for (const [input, want] of cases) {
    const buf = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
    assert.equal(detectProtocol(buf), want, JSON.stringify(buf.toString('latin1')));
  }
});

test('on a port declared HTTP: the HTTP/2 preface or HTTP/1.1, never TCP', () => {
  const cases: [string | Buffer, string][] = [
    [H2_PREFACE, 'http2'],
    [Buffer.concat([H2_PREFACE, Buffer.from([0, 0, 0, 4])]), 'http2'],
    [H2_PREFACE.subarray(0, 1), 'more'],
    [H2_PREFACE.subarray(0, 23), 'more'],
    ['GET / HTTP/1.1\r\n', 'http1'],
    ['PUT /x HTTP/1.1\r\n', 'http1'],
    ['PRI * HTTP/1.1\r\n', 'http1'],
    ['\x16\x03\x01\x02\x00', 'http1'],
    ['hello world', 'http1'],
  ];
  for (const [input, want] of cases) {
    const buf = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
    assert.equal(detectHttpVersion(buf), want, JSON.stringify(buf.toString('latin1')));
  }
});
