// Just enough of the pcap format for the capture assertions: TCP segments of an Ethernet or
// Linux-cooked capture as (source, destination, payload), and the byte streams they carry.

export interface TcpSegment {
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  payload: Buffer;
}

const LINKTYPE_ETHERNET = 1;
const LINKTYPE_LINUX_SLL = 113;
const ETHERTYPE_IPV4 = 0x0800;

/** TCP over IPv4 segments of a classic pcap file (either byte order, µs or ns timestamps). */
export function tcpSegments(file: Buffer): TcpSegment[] {
  if (file.length < 24) throw new Error('pcap: file shorter than its global header');
  const magic = file.readUInt32LE(0);
  const little = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!little && file.readUInt32BE(0) !== 0xa1b2c3d4 && file.readUInt32BE(0) !== 0xa1b23c4d) {
    throw new Error('pcap: bad magic');
  }
  const u32 = (at: number): number => (little ? file.readUInt32LE(at) : file.readUInt32BE(at));
  const linkType = u32(20);
  const out: TcpSegment[] = [];
  for (let at = 24; at + 16 <= file.length;) {
    const captured = u32(at + 8);
    const frame = file.subarray(at + 16, at + 16 + captured);
    at += 16 + captured;
    const ip = ipv4Of(frame, linkType);
    if (ip === undefined) continue;
    const segment = tcpOf(ip);
    if (segment !== undefined) out.push(segment);
  }
  return out;
}

function ipv4Of(frame: Buffer, linkType: number): Buffer | undefined {
  if (linkType === LINKTYPE_ETHERNET && frame.length >= 14 && frame.readUInt16BE(12) === ETHERTYPE_IPV4) return frame.subarray(14);
  if (linkType === LINKTYPE_LINUX_SLL && frame.length >= 16 && frame.readUInt16BE(14) === ETHERTYPE_IPV4) return frame.subarray(16);
  return undefined;
}

function tcpOf(ip: Buffer): TcpSegment | undefined {
  if (ip.length < 20 || ip[0] === undefined || ip[0] >> 4 !== 4 || ip[9] !== 6) return undefined;
  const ihl = (ip[0] & 0x0f) * 4;
  const total = Math.min(ip.readUInt16BE(2) || ip.length, ip.length); // 0 with TSO: use what was captured
  const tcp = ip.subarray(ihl, total);
  if (tcp.length < 20 || tcp[12] === undefined) return undefined;
  const dataOffset = (tcp[12] >> 4) * 4;
  return {
    src: [...ip.subarray(12, 16)].join('.'),
    dst: [...ip.subarray(16, 20)].join('.'),
    srcPort: tcp.readUInt16BE(0),
    dstPort: tcp.readUInt16BE(2),
    payload: tcp.subarray(dataOffset),
  };
}

/** Payload bytes per direction (`src:port>dst:port`), in capture order: each TCP byte stream. */
export function tcpStreams(segments: readonly TcpSegment[]): Map<string, Buffer> {
  const parts = new Map<string, Buffer[]>();
  for (const s of segments) {
    if (s.payload.length === 0) continue;
    const key = `${s.src}:${s.srcPort}>${s.dst}:${s.dstPort}`;
    const list = parts.get(key) ?? [];
    list.push(s.payload);
    parts.set(key, list);
  }
  return new Map([...parts].map(([k, v]) => [k, Buffer.concat(v)]));
}
