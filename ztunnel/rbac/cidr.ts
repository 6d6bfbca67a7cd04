// Address matching for policies: a CIDR or a single address, IPv4 or IPv6. Node's BlockList
// does the prefix arithmetic; parsed entries are cached because policies repeat them.
import net from 'node:net';

const cache = new Map<string, net.BlockList | null>();

function compile(cidr: string): net.BlockList | null {
  const [ip = '', bits] = cidr.split('/');
  const family = net.isIP(ip);
  if (family === 0) return null;
  const max = family === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return null;
  const list = new net.BlockList();
  list.addSubnet(ip, prefix, family === 4 ? 'ipv4' : 'ipv6');
  return list;
}

/** True when `ip` lies inside `cidr`; a malformed CIDR or address matches nothing. */
export function cidrContains(cidr: string, ip: string): boolean {
  let list = cache.get(cidr);
  if (list === undefined) {
    list = compile(cidr);
    if (cache.size > 10_000) cache.clear();
    cache.set(cidr, list);
  }
  const family = net.isIP(ip);
  if (list === null || family === 0) return false;
  return list.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}
