import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tcpSegments, tcpStreams } from './pcap.ts';

function packet(src: number[], dst: number[], sport: number, dport: number, payload: string): Buffer {
  const data = Buffer.from(payload);
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(sport, 0);
  tcp.writeUInt16BE(dport, 2);
  tcp[12] = 5 << 4;
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 20 + data.length, 2);
  ip[9] = 6;
  ip.set(src, 12);
  ip.set(dst, 16);
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(0x0800, 12);
  const frame = Buffer.concat([eth, ip, tcp, data]);
  const rec = Buffer.alloc(16);
  rec.writeUInt32LE(frame.length, 8);
  rec.writeUInt32LE(frame.length, 12);
  return Buffer.concat([rec, frame]);
}

function pcap(...records: Buffer[]): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(262144, 16);
  head.writeUInt32LE(1, 20);
  return Buffer.concat([head, ...records]);
}

test('tcpSegments reads Ethernet/IPv4/TCP records and tcpStreams joins each direction', () => {
  const file = pcap(
    packet([10, 0, 0, 1], [10, 0, 1, 2], 40000, 15008, 'CAN'),
    packet([10, 0, 1, 2], [10, 0, 0, 1], 15008, 40000, 'reply'),
    packet([10, 0, 0, 1], [10, 0, 1, 2], 40000, 15008, 'ARY'),
    packet([10, 0, 0, 1], [10, 0, 1, 2], 40000, 15008, ''),
  );
  const segs = tcpSegments(file);
  assert.equal(segs.length, 4);
  assert.deepEqual({ ...segs[0], payload: segs[0]?.payload.toString() }, {
    src: '10.0.0.1', srcPort: 40000, dst: '10.0.1.2', dstPort: 15008, payload: 'CAN',
  });
  const streams = tcpStreams(segs);
  assert.equal(streams.get('10.0.0.1:40000>10.0.1.2:15008')?.toString(), 'CANARY');
  assert.equal(streams.get('10.0.1.2:15008>10.0.0.1:40000')?.toString(), 'reply');
  assert.equal(streams.size, 2);
});

test('tcpSegments rejects what is not a pcap file', () => {
  assert.throws(() => tcpSegments(Buffer.alloc(10)), /shorter/);
  assert.throws(() => tcpSegments(Buffer.alloc(24)), /magic/);
});
