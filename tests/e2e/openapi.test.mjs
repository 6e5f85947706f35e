// docs/openapi.yaml against the code and the running server, so the spec cannot drift:
//  - every /api/v1 route registered in src/api/*.c (em_server_route) is documented, and every
//    documented operation is registered;
//  - every documented operation answers a signed-in admin with something other than 405 and
//    other than the router's 404 for unknown paths; operations with {id}-style parameters get a
//    made-up id and must answer 404 in the JSON error format (from the handler, not the router)
//    or another answer of the handler.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { startEmma, login, api } from './lib/emma.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const spec = YAML.parse(readFileSync(join(root, 'docs/openapi.yaml'), 'utf8'));
const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'options', 'head'];
const NOT_HERE = [];

function registeredRoutes() {
	const dir = join(root, 'src/api');
	const out = new Set();
	for (const f of readdirSync(dir).filter((x) => x.endsWith('.c'))) {
		const text = readFileSync(join(dir, f), 'utf8');
		for (const m of text.matchAll(/em_server_route\(\s*\w+\s*,\s*EM_([A-Z]+)\s*,\s*"([^"]+)"/g)) {
			const [, method, path] = m;
			if (!path.startsWith('/api/v1/')) continue;
			if (NOT_HERE.some((re) => re.test(path))) continue;
			out.add(`${method.toLowerCase()} ${path}`);
		}
	}
	return out;
}

function documentedRoutes() {
	const out = new Set();
	for (const [path, item] of Object.entries(spec.paths)) {
		for (const m of METHODS) if (item[m]) out.add(`${m} ${path}`);
	}
	return out;
}

test('openapi.yaml is valid OpenAPI 3.0 and documents exactly the registered /api/v1 routes', () => {
	assert.match(spec.openapi, /^3\.0\.\d+$/);
	assert.ok(spec.info?.title && spec.info?.version);
	assert.ok(spec.components?.schemas?.Error, 'the one error format is described');
	const reg = registeredRoutes();
	const doc = documentedRoutes();
	assert.ok(reg.size > 50, `found ${reg.size} routes in src/api`);
	const undocumented = [...reg].filter((x) => !doc.has(x)).sort();
	const unregistered = [...doc].filter((x) => !reg.has(x)).sort();
	assert.deepEqual(undocumented, [], 'registered but not in docs/openapi.yaml');
	assert.deepEqual(unregistered, [], 'in docs/openapi.yaml but not registered');
	// Every $ref points at something, and every operation names its answers.
	const text = JSON.stringify(spec);
	for (const m of text.matchAll(/"\$ref":"#\/components\/(\w+)\/(\w+)"/g)) {
		assert.ok(spec.components[m[1]]?.[m[2]], `dangling $ref ${m[0]}`);
	}
	for (const [path, item] of Object.entries(spec.paths)) {
		const params = [...path.matchAll(/{(\w+)}/g)].map((x) => x[1]);
		for (const m of METHODS) {
			if (!item[m]) continue;
			assert.ok(item[m].summary, `${m} ${path} has a summary`);
			assert.ok(Object.keys(item[m].responses || {}).length, `${m} ${path} has responses`);
			const declared = (item[m].parameters || []).filter((p) => p.in === 'path').map((p) => p.name);
			assert.deepEqual(declared.sort(), [...params].sort(), `${m} ${path} declares its path parameters`);
		}
	}
});

test('every documented operation is answered by its handler on the running server', async (t) => {
	const emma = await startEmma({ t });
	const admin = await login(emma.url, emma.adminEmail, emma.adminPassword);
	// The router's own 404 for a path nothing is registered at, to tell it apart.
	const unknown = await api(emma.url, 'GET', '/api/v1/no-such-resource-here', { cookie: admin.cookie });
	assert.equal(unknown.status, 404);
	const routerMessage = unknown.json.error.message;

	const ops = [];
	for (const [path, item] of Object.entries(spec.paths)) {
		for (const m of METHODS) if (item[m]) ops.push([m, path, item[m]]);
	}
	// Signing out last: it ends the session the other requests use.
	ops.sort((a, b) => (a[1] === '/api/v1/logout') - (b[1] === '/api/v1/logout'));
	const problems = [];
	for (const [m, path, op] of ops) {
		const url = path.replace(/{(\w+)}/g, (_, name) => `zz-made-up-${name}-0`);
		const hasParam = url !== path;
		const opts = { cookie: admin.cookie, csrf: admin.csrf };
		if (['post', 'put', 'patch'].includes(m)) {
			const csv = op.requestBody?.content?.['text/csv'];
			if (csv) {
				opts.body = 'email\r\n';
				opts.headers = { 'Content-Type': 'text/csv' };
			} else {
				opts.body = {};
			}
		}
		const r = await api(emma.url, m.toUpperCase(), url, opts);
		const where = `${m.toUpperCase()} ${url} -> ${r.status} ${r.text.slice(0, 160)}`;
		if (r.status === 405) problems.push(`method not allowed: ${where}`);
		if (r.status === 404) {
			if (!r.json?.error?.code) problems.push(`404 without the JSON error format: ${where}`);
			else if (r.json.error.message === routerMessage) problems.push(`router 404 (no route): ${where}`);
			else if (!hasParam) problems.push(`404 on a path without an id: ${where}`);
		}
		if (r.status >= 400 && m !== 'options' && !r.json?.error) problems.push(`error without the JSON error format: ${where}`);
		if (r.status >= 500 && r.status !== 503) problems.push(`server error: ${where}`);
		const documented = Object.keys(op.responses).concat(['400', '409', '413', '415', '422', '429']);
		if (!documented.includes(String(r.status)) && !(r.status >= 200 && r.status < 300)) {
			problems.push(`answer ${r.status} is not documented: ${where}`);
		}
	}
	assert.deepEqual(problems, []);
});
