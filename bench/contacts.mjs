// Contact search latency through the REST API (bench/contacts.sh runs it).
//
//   node bench/contacts.mjs URL ADMIN_PASSWORD [ROUNDS]
//
// Signs in as admin@localhost, warms up, then sends every query of the mix
// below ROUNDS times in a shuffled order, one at a time over one keep-alive
// connection, and prints p50/p99/max per kind and over all requests. Each
// request must answer 200; the number of hits of each query is printed so a
// run that finds nothing is visible.
import http from 'node:http';

const [url, password, roundsArg] = process.argv.slice(2);
const ROUNDS = Number(roundsArg || 50);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function request(method, path, { body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(path, url);
    const data = body ? JSON.stringify(body) : undefined;
    const req = http.request(u, { method, agent, headers: { ...headers, ...(data ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

const mix = [
  ['name fragment', 'q=m%C3%BCll'], ['name fragment', 'q=schmi'], ['name fragment', 'q=sonne'],
  ['name fragment', 'q=anna%20k'], ['name fragment', 'q=ckerei'], ['name fragment', 'q=j%C3%B6rg%20w'],
  ['e-mail prefix', 'q=hans.ha'], ['e-mail prefix', 'q=olga.k%C3%B6nig50'], ['e-mail prefix', 'q=zo'],
  ['e-mail prefix', 'q=tom.vogel12'], ['e-mail prefix', 'q=posteo'],
  ['phone digits', 'q=1552573'], ['phone digits', 'q=0155%20267'], ['phone digits', 'q=%2B49%20155%204'],
  ['tag', 'tag=vip'], ['tag', 'tag=trade-fair'], ['tag + search', 'tag=b2b&q=weber'],
  ['stage + search', 'stage=lost&q=krause'], ['list, no filter', 'limit=50'],
];

const res = await request('POST', '/api/v1/login', { body: { email: 'admin@localhost', password } });
if (res.status !== 200) throw new Error(`login: ${res.status} ${res.text}`);
const cookie = res.headers['set-cookie'].map((c) => c.split(';')[0]).join('; ');

const hits = new Map();
async function run(qs) {
  const t0 = process.hrtime.bigint();
  const r = await request('GET', `/api/v1/contacts?${qs}`, { headers: { cookie } });
  const us = Number(process.hrtime.bigint() - t0) / 1000;
  if (r.status !== 200) throw new Error(`${qs}: ${r.status} ${r.text.slice(0, 200)}`);
  hits.set(qs, JSON.parse(r.text).contacts.length);
  return us;
}

for (const [, qs] of mix) await run(qs); // warm-up: page cache, prepared statements
const order = [];
for (let i = 0; i < ROUNDS; i++) for (const m of mix) order.push(m);
for (let i = order.length - 1; i > 0; i--) {
  const j = Math.floor(Math.random() * (i + 1));
  [order[i], order[j]] = [order[j], order[i]];
}
const byKind = new Map();
const byQuery = new Map();
const all = [];
for (const [kind, qs] of order) {
  const us = await run(qs);
  all.push(us);
  if (!byKind.has(kind)) byKind.set(kind, []);
  byKind.get(kind).push(us);
  if (!byQuery.has(qs)) byQuery.set(qs, []);
  byQuery.get(qs).push(us);
}
const pct = (a, p) => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const ms = (us) => (us / 1000).toFixed(2).padStart(7);
console.log(`${'kind'.padEnd(18)} ${'n'.padStart(5)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'max ms'.padStart(7)}`);
for (const [kind, a] of byKind) console.log(`${kind.padEnd(18)} ${String(a.length).padStart(5)} ${ms(pct(a, 50))} ${ms(pct(a, 99))} ${ms(Math.max(...a))}`);
console.log(`${'all'.padEnd(18)} ${String(all.length).padStart(5)} ${ms(pct(all, 50))} ${ms(pct(all, 99))} ${ms(Math.max(...all))}`);
if (process.env.SEARCH_PER_QUERY) {
  console.log('per query:');
  for (const [qs, a] of byQuery) console.log(`  ${decodeURIComponent(qs).padEnd(24)} ${ms(pct(a, 50))} ${ms(pct(a, 99))} ${ms(Math.max(...a))}`);
}
console.log('hits per query (limit 50):', [...hits].map(([q, n]) => `${decodeURIComponent(q)}=${n}`).join('  '));
agent.destroy();
