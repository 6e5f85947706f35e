// A small MaxMind DB (.mmdb) writer for tests, following the MaxMind DB File
// Format Specification 2.0: a binary search tree of 24-bit records over IPv6
// (IPv4 networks live under ::/96, where readers look them up), a data
// section of the spec's typed values, and the metadata map after the
// "\xab\xcd\xefMaxMind.com" marker. Real GeoIP files cannot be downloaded
// here, so the tests build their own and read it back through libmaxminddb.
//
//   import { buildMmdb, writeMmdb } from './lib/mmdb.mjs';
//   writeMmdb(path, [['203.0.113.0/24', { country: { iso_code: 'DE' } }]]);
//
// Run directly, it writes the unit tests' fixture:
//   node tests/e2e/lib/mmdb.mjs tests/unit/data/geo/test.mmdb
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { isIPv4, isIPv6 } from 'node:net';
import { fileURLToPath } from 'node:url';

// ---- Data section encoding ----------------------------------------------

const T = { utf8: 2, double: 3, bytes: 4, uint16: 5, uint32: 6, map: 7, int32: 8, uint64: 9, array: 11, bool: 14 };

function control(type, size) {
  const out = [];
  let sizeBits, extra = [];
  if (size < 29) sizeBits = size;
  else if (size < 29 + 256) { sizeBits = 29; extra = [size - 29]; }
  else if (size < 285 + 65536) { sizeBits = 30; const v = size - 285; extra = [v >> 8, v & 0xff]; }
  else { sizeBits = 31; const v = size - 65821; extra = [(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]; }
  if (type <= 7) out.push((type << 5) | sizeBits);
  else out.push(sizeBits, type - 7); // extended type: 0 in the control byte, then type - 7
  return Buffer.from([...out, ...extra]);
}

function uintBytes(n) {
  let v = BigInt(n);
  const bytes = [];
  while (v > 0n) { bytes.unshift(Number(v & 0xffn)); v >>= 8n; }
  return Buffer.from(bytes);
}

/** Encodes a JS value: strings utf8, booleans, arrays, objects as maps, and
 *  numbers as uint32 (or as the type named by { $type, value }). */
export function encode(v) {
  if (v && typeof v === 'object' && '$type' in v) {
    const b = v.$type === 'double' ? (() => { const x = Buffer.alloc(8); x.writeDoubleBE(v.value); return x; })() : uintBytes(v.value);
    return Buffer.concat([control(T[v.$type], b.length), b]);
  }
  if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8');
    return Buffer.concat([control(T.utf8, b.length), b]);
  }
  if (typeof v === 'boolean') return control(T.bool, v ? 1 : 0);
  if (typeof v === 'number' || typeof v === 'bigint') {
    const b = uintBytes(v);
    return Buffer.concat([control(T.uint32, b.length), b]);
  }
  if (Array.isArray(v)) return Buffer.concat([control(T.array, v.length), ...v.map(encode)]);
  if (v && typeof v === 'object') {
    const keys = Object.keys(v);
    return Buffer.concat([control(T.map, keys.length), ...keys.flatMap((k) => [encode(k), encode(v[k])])]);
  }
  throw new Error(`mmdb: cannot encode ${v}`);
}

// ---- Networks -----------------------------------------------------------

function ipv6Bits(addr) {
  // Expand "::" and an embedded dotted quad into 8 groups of 16 bits.
  let [head, tail] = addr.includes('::') ? addr.split('::') : [addr, null];
  const toGroups = (s) => {
    if (!s) return [];
    const parts = s.split(':');
    const last = parts[parts.length - 1];
    if (last.includes('.')) {
      const q = last.split('.').map(Number);
      parts.splice(-1, 1, ((q[0] << 8) | q[1]).toString(16), ((q[2] << 8) | q[3]).toString(16));
    }
    return parts.map((p) => parseInt(p, 16));
  };
  const h = toGroups(head), t = toGroups(tail);
  const groups = tail === null ? h : [...h, ...Array(8 - h.length - t.length).fill(0), ...t];
  const bits = [];
  for (const g of groups) for (let i = 15; i >= 0; i--) bits.push((g >> i) & 1);
  return bits;
}

/** The 128 tree bits of a network and its prefix length in the IPv6 tree. */
function networkBits(cidr) {
  const [addr, lenText] = cidr.split('/');
  if (isIPv4(addr)) {
    const len = lenText === undefined ? 32 : Number(lenText);
    const bits = Array(96).fill(0);
    for (const o of addr.split('.').map(Number)) for (let i = 7; i >= 0; i--) bits.push((o >> i) & 1);
    return { bits, len: 96 + len };
  }
  if (isIPv6(addr)) return { bits: ipv6Bits(addr), len: lenText === undefined ? 128 : Number(lenText) };
  throw new Error(`mmdb: not a network: ${cidr}`);
}

// ---- The whole file ------------------------------------------------------

/** Builds the bytes of a database mapping each [cidr, value] to value.
 *  Later, longer prefixes win inside earlier, shorter ones. */
export function buildMmdb(networks, { databaseType = 'Emma-Test-Country', description = 'Emma test data' } = {}) {
  // The tree as nested nodes: a child is a node object, { data: index }, or null.
  const root = { kids: [null, null] };
  const values = [];
  const sorted = [...networks].sort((a, b) => networkBits(a[0]).len - networkBits(b[0]).len);
  for (const [cidr, value] of sorted) {
    const { bits, len } = networkBits(cidr);
    if (len < 1) throw new Error('mmdb: a network needs a prefix of at least 1 bit');
    const leaf = { data: values.push(value) - 1 };
    let node = root;
    for (let i = 0; i < len - 1; i++) {
      const b = bits[i];
      const k = node.kids[b];
      if (!k || 'data' in k) {
        // Split an existing leaf: both halves keep its value for now.
        node.kids[b] = { kids: [k, k] };
      }
      node = node.kids[b];
    }
    node.kids[bits[len - 1]] = leaf;
  }
  // Number the nodes breadth-first; the root is node 0.
  const nodes = [];
  const queue = [root];
  while (queue.length) {
    const n = queue.shift();
    n.id = nodes.push(n) - 1;
    for (const k of n.kids) if (k && 'kids' in k) queue.push(k);
  }
  // Data section: each value encoded once.
  const offsets = [];
  const chunks = [];
  let size = 0;
  for (const v of values) {
    const b = encode(v);
    offsets.push(size);
    chunks.push(b);
    size += b.length;
  }
  const nodeCount = nodes.length;
  if (nodeCount + 16 + size >= 2 ** 24) throw new Error('mmdb: too big for 24-bit records');
  const record = (k) => (!k ? nodeCount : 'kids' in k ? k.id : nodeCount + 16 + offsets[k.data]);
  const tree = Buffer.alloc(nodeCount * 6);
  for (const n of nodes) {
    tree.writeUIntBE(record(n.kids[0]), n.id * 6, 3);
    tree.writeUIntBE(record(n.kids[1]), n.id * 6 + 3, 3);
  }
  const metadata = encode({
    node_count: { $type: 'uint32', value: nodeCount },
    record_size: { $type: 'uint16', value: 24 },
    ip_version: { $type: 'uint16', value: 6 },
    database_type: databaseType,
    languages: ['en'],
    binary_format_major_version: { $type: 'uint16', value: 2 },
    binary_format_minor_version: { $type: 'uint16', value: 0 },
    build_epoch: { $type: 'uint64', value: Math.floor(Date.now() / 1000) },
    description: { en: description },
  });
  return Buffer.concat([
    tree, Buffer.alloc(16), ...chunks, Buffer.from('\xab\xcd\xefMaxMind.com', 'latin1'), metadata,
  ]);
}

export function writeMmdb(path, networks, opts) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, buildMmdb(networks, opts));
  return path;
}

/** The networks of the test fixture (documentation ranges, RFC 5737 / 3849). */
export const TEST_NETWORKS = [
  ['203.0.113.0/24', { country: { iso_code: 'DE', names: { en: 'Germany' } } }],
  ['198.51.100.0/24', { registered_country: { iso_code: 'AT' } }],
  ['198.51.100.128/25', { country: { iso_code: 'CH' } }],
  ['2001:db8::/32', { country: { iso_code: 'FR' } }],
  ['192.0.2.0/24', { country: { iso_code: 'xx1' } }],
];

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = process.argv[2] || 'tests/unit/data/geo/test.mmdb';
  writeMmdb(out, TEST_NETWORKS, { description: 'Emma unit-test fixture (tests/e2e/lib/mmdb.mjs)' });
  process.stdout.write(`wrote ${out}\n`);
}
