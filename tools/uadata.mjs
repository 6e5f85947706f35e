#!/usr/bin/env node
// Build-time converter: turns the user-agent data of two npm packages into a C
// source file, so the server carries it in its binary and reads no data file
// at run time (DESIGN.md §1, "user agents, bots"; docs/user-agents.md).
//
//   node tools/uadata.mjs node_modules/uap-core/regexes.yaml node_modules/isbot > build/gen/uadata.c
//
// - uap-core's regexes.yaml: three lists of rules (user_agent_parsers,
//   os_parsers, device_parsers). The file uses a small, regular subset of YAML
//   (a mapping of lists of flat mappings with quoted scalars), so a strict
//   parser for exactly that subset lives here instead of a YAML dependency.
//   Anything outside the subset stops the build with file:line, so a change
//   of format upstream is noticed at once instead of silently losing rules.
// - isbot: its exported `list` of regex sources, joined into one alternation
//   as isbot itself does. Its sources are JavaScript regexes; the few spots
//   where JavaScript and PCRE2 disagree are rewritten by jsToPcre() below.
//
// Output: flat tables of strings, one row of STRIDE entries per rule:
//   regex, flags ("i" or NULL), replacement 1..4, prefilter (see below)
// where the replacements are, per list:
//   agents:  family, v1, v2, v3
//   oses:    os, os_v1, os_v2, os_v3
//   devices: device, brand, model, NULL
// NULL means "no replacement: use the capture group".
import { readFileSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const STRIDE = 7;

function die(msg) {
	process.stderr.write(`uadata: ${msg}\n`);
	process.exit(1);
}

// ---- YAML subset -----------------------------------------------------------

// Reads a quoted or plain scalar that starts at s[i]; returns [value, rest].
function scalar(s, where) {
	if (s[0] === "'") {
		let out = '';
		for (let i = 1; i < s.length; i++) {
			if (s[i] === "'") {
				if (s[i + 1] === "'") {
					out += "'";
					i++;
					continue;
				}
				return [out, s.slice(i + 1)];
			}
			out += s[i];
		}
		die(`${where}: unterminated single-quoted scalar`);
	}
	if (s[0] === '"') {
		let out = '';
		const simple = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', '/': '/', 0: '\0' };
		for (let i = 1; i < s.length; i++) {
			const c = s[i];
			if (c === '"')
				return [out, s.slice(i + 1)];
			if (c !== '\\') {
				out += c;
				continue;
			}
			const e = s[++i];
			if (e in simple) {
				out += simple[e];
			} else if (e === 'x' || e === 'u') {
				const n = e === 'x' ? 2 : 4;
				const hex = s.slice(i + 1, i + 1 + n);
				if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== n)
					die(`${where}: bad \\${e} escape in double-quoted scalar`);
				out += String.fromCodePoint(parseInt(hex, 16));
				i += n;
			} else {
				die(`${where}: unsupported escape \\${e} in double-quoted scalar`);
			}
		}
		die(`${where}: unterminated double-quoted scalar`);
	}
	// Plain scalar: up to a " #" comment. Flow and block indicators are not
	// part of the subset; refuse them rather than guess.
	if (/^[[\]{}|>&*!%@`]/.test(s))
		die(`${where}: unsupported YAML construct: ${s}`);
	const hash = s.search(/\s#/);
	return [(hash < 0 ? s : s.slice(0, hash)).trim(), ''];
}

const KEYS = {
	user_agent_parsers: ['regex', 'regex_flag', 'family_replacement', 'v1_replacement', 'v2_replacement',
		'v3_replacement'],
	os_parsers: ['regex', 'regex_flag', 'os_replacement', 'os_v1_replacement', 'os_v2_replacement',
		'os_v3_replacement', 'os_v4_replacement'],
	device_parsers: ['regex', 'regex_flag', 'device_replacement', 'brand_replacement', 'model_replacement'],
};

function parseRegexesYaml(text, file) {
	const lists = {};
	let list = null;
	let item = null;
	const lines = text.split(/\r?\n/);
	for (let n = 0; n < lines.length; n++) {
		const where = `${file}:${n + 1}`;
		const line = lines[n];
		if (/^\s*(#.*)?$/.test(line))
			continue;
		let m;
		if ((m = /^([A-Za-z_]+):\s*(#.*)?$/.exec(line))) {
			if (!(m[1] in KEYS))
				die(`${where}: unknown top-level key "${m[1]}"`);
			list = lists[m[1]] = [];
			item = null;
			continue;
		}
		if (!list)
			die(`${where}: content before the first list`);
		if ((m = /^( *)- ([a-z0-9_]+):\s*(.*)$/.exec(line))) {
			item = { line: n + 1 };
			list.push(item);
		} else if ((m = /^( +)([a-z0-9_]+):\s*(.*)$/.exec(line))) {
			if (!item)
				die(`${where}: key outside a list item`);
		} else {
			die(`${where}: line outside the supported YAML subset: ${line}`);
		}
		const key = m[2];
		const section = Object.keys(lists).find((k) => lists[k] === list);
		if (!KEYS[section].includes(key))
			die(`${where}: unknown key "${key}" in ${section}`);
		if (key in item)
			die(`${where}: duplicate key "${key}"`);
		const [value, rest] = scalar(m[3], where);
		if (!/^\s*(#.*)?$/.test(rest))
			die(`${where}: trailing text after scalar: ${rest}`);
		item[key] = value;
	}
	for (const section of Object.keys(KEYS)) {
		if (!lists[section] || lists[section].length === 0)
			die(`${file}: no ${section}`);
		for (const it of lists[section]) {
			if (typeof it.regex !== 'string' || it.regex === '')
				die(`${file}:${it.line}: rule without a regex`);
			if (it.regex_flag !== undefined && it.regex_flag !== 'i')
				die(`${file}:${it.line}: unsupported regex_flag "${it.regex_flag}"`);
		}
	}
	return lists;
}

// ---- JavaScript regex source -> PCRE2 ----------------------------------------

// JavaScript (without the u flag) and PCRE2 read nearly all of these patterns
// alike. The one difference met in practice: inside a character class, a
// hyphen next to a class escape (\w, \d, \s and their negations), as in
// [\w\d-.], is a literal in JavaScript but an error in PCRE2. Such hyphens are
// escaped. A literal "]" first in a class ([]a]) means "empty class" in
// JavaScript and is refused rather than translated.
function jsToPcre(src) {
	let out = '';
	let inClass = false;
	let classStart = false;
	let prevWasClassEscape = false;
	for (let i = 0; i < src.length; i++) {
		const c = src[i];
		if (c === '\\') {
			const e = src[i + 1];
			if (e === undefined)
				die(`pattern ends in a backslash: ${src}`);
			out += c + e;
			i++;
			prevWasClassEscape = inClass && /[wWdDsS]/.test(e);
			classStart = false;
			continue;
		}
		if (!inClass) {
			if (c === '[') {
				inClass = true;
				classStart = true;
				prevWasClassEscape = false;
				out += c;
				if (src[i + 1] === '^') {
					out += '^';
					i++;
				}
				if (src[i + 1] === ']')
					die(`"[]" or "[^]" has no PCRE2 equivalent: ${src}`);
				continue;
			}
			out += c;
			continue;
		}
		if (c === ']' && !classStart) {
			inClass = false;
			out += c;
			continue;
		}
		if (c === '-') {
			const next = src.slice(i + 1, i + 3);
			const nextIsClassEscape = /^\\[wWdDsS]$/.test(next);
			out += prevWasClassEscape || nextIsClassEscape ? '\\-' : '-';
		} else {
			out += c;
		}
		prevWasClassEscape = false;
		classStart = false;
	}
	if (inClass)
		die(`unterminated character class: ${src}`);
	return out;
}

// ---- literal prefilter ---------------------------------------------------------

// Most of uap's ~1200 regexes fail for any one UA, and trying each costs a
// PCRE2 call. So for every regex we work out, at build time, a set of
// literal strings one of which every match must contain ("required
// literals"); at run time a rule whose literals are all absent from the
// (lower-cased) UA is skipped without running its regex. The analysis is
// conservative: whatever it does not understand yields "no prefilter", which
// only costs speed. Literals are lower-cased and the run-time check is
// case-insensitive, so it is valid for the case-sensitive rules too.

class Unsupported extends Error {}

// ASCII only, as the C side lowers the UA (PCRE2 without UTF folds no more).
const asciiLower = (s) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

// Parses a regex into a small AST:
//   {t:'alt', branches:[seq]}  seq = {t:'seq', items:[{atom, min, max}]}
//   atoms: {t:'lit', c}, {t:'any'}, {t:'class', src}, {t:'esc', c} (class
//   escape or assertion), {t:'anchor'}, {t:'group', kind, alt}
function parseRegex(src) {
	let i = 0;
	function alt() {
		const branches = [seq()];
		while (src[i] === '|') {
			i++;
			branches.push(seq());
		}
		return { t: 'alt', branches };
	}
	function seq() {
		const items = [];
		while (i < src.length && src[i] !== '|' && src[i] !== ')') {
			const a = atom();
			const [min, max] = quant();
			items.push({ atom: a, min, max });
		}
		return { t: 'seq', items };
	}
	function quant() {
		let q = null;
		const c = src[i];
		if (c === '*') q = [0, Infinity];
		else if (c === '+') q = [1, Infinity];
		else if (c === '?') q = [0, 1];
		if (q) {
			i++;
		} else if (c === '{') {
			const m = /^\{(\d+)(,(\d*))?\}/.exec(src.slice(i));
			if (!m)
				return [1, 1]; /* a literal "{", read by atom() next time */
			i += m[0].length;
			q = [parseInt(m[1], 10), m[2] === undefined ? parseInt(m[1], 10) : m[3] === '' ? Infinity : parseInt(m[3], 10)];
		} else {
			return [1, 1];
		}
		if (src[i] === '?' || src[i] === '+')
			i++; /* lazy or possessive: the same strings match */
		return q;
	}
	function atom() {
		const c = src[i++];
		if (c === '(') {
			let kind = 'cap';
			if (src[i] === '?') {
				if (src.startsWith('?:', i)) {
					kind = 'nocap';
					i += 2;
				} else if (src.startsWith('?=', i) || src.startsWith('?!', i)) {
					kind = 'look';
					i += 2;
				} else if (src.startsWith('?<=', i) || src.startsWith('?<!', i)) {
					kind = 'look';
					i += 3;
				} else {
					throw new Unsupported(`group (${src.slice(i, i + 3)}`);
				}
			}
			const inner = alt();
			if (src[i] !== ')')
				throw new Unsupported('unbalanced parenthesis');
			i++;
			return { t: 'group', kind, alt: inner };
		}
		if (c === '[') {
			const start = i - 1;
			if (src[i] === '^')
				i++;
			if (src[i] === ']')
				i++;
			while (i < src.length && src[i] !== ']') {
				if (src[i] === '\\')
					i++;
				i++;
			}
			if (src[i] !== ']')
				throw new Unsupported('unterminated class');
			i++;
			const cls = src.slice(start, i);
			// [Ss] is the letter s for a case-insensitive literal check.
			const m = /^\[([A-Za-z])([A-Za-z])\]$/.exec(cls);
			if (m && m[1] !== m[2] && m[1].toLowerCase() === m[2].toLowerCase())
				return { t: 'lit', c: m[1] };
			return { t: 'class', src: cls };
		}
		if (c === '.')
			return { t: 'any' };
		if (c === '^' || c === '$')
			return { t: 'anchor' };
		if (c === '\\') {
			const e = src[i++];
			if (e === undefined)
				throw new Unsupported('trailing backslash');
			if (/[dDwWsSbB]/.test(e))
				return { t: 'esc', c: e };
			if (/[A-Za-z0-9]/.test(e))
				throw new Unsupported(`escape \\${e}`);
			return { t: 'lit', c: e };
		}
		if (c === '*' || c === '+' || c === '?')
			throw new Unsupported('quantifier without atom');
		return { t: 'lit', c };
	}
	const ast = alt();
	if (i !== src.length)
		throw new Unsupported('unbalanced parenthesis');
	return ast;
}

const score = (set) => (set ? Math.min(...set.map((s) => s.length)) : 0);
const better = (a, b) => (score(b) > score(a) || (score(b) === score(a) && b && a && b.length < a.length) ? b : a);

// A set of strings one of which every match of node contains, or null.
function required(node) {
	if (node.t === 'alt') {
		const sets = node.branches.map(required);
		if (sets.some((s) => !s))
			return null;
		const all = [...new Set(sets.flat())];
		return all.length <= 512 ? all : null;
	}
	// A sequence: runs of adjacent mandatory literals, and the requirements
	// of mandatory groups; the most selective of them wins.
	let best = null;
	let run = '';
	const endRun = () => {
		if (run)
			best = better(best, [run]);
		run = '';
	};
	for (const { atom, min, max } of node.items) {
		if (atom.t === 'lit') {
			if (min === 1 && max === 1) {
				run += atom.c;
			} else if (min >= 1) {
				run += atom.c; /* "ab+c" contains "ab" and "bc" */
				endRun();
				run = atom.c;
			} else {
				endRun();
			}
			continue;
		}
		endRun();
		if (atom.t === 'group' && atom.kind !== 'look' && min >= 1)
			best = better(best, required(atom.alt));
	}
	endRun();
	return best;
}

// A random string that the regex node may match (used only to test the
// prefilter: samples that the real regex rejects are discarded).
function sample(node, rnd) {
	if (node.t === 'alt')
		return sample(node.branches[Math.floor(rnd() * node.branches.length)], rnd);
	let out = '';
	for (const { atom, min, max } of node.items) {
		const n = min + Math.floor(rnd() * (Math.min(max, min + 3) - min + 1));
		for (let k = 0; k < n; k++)
			out += sampleAtom(atom, rnd);
	}
	return out;
}

const PRINTABLE = Array.from({ length: 95 }, (_, k) => String.fromCharCode(32 + k));
function sampleAtom(a, rnd) {
	const pick = (chars) => (chars.length ? chars[Math.floor(rnd() * chars.length)] : '');
	switch (a.t) {
	case 'lit': return a.c;
	case 'any': return pick(PRINTABLE);
	case 'class': {
		let re;
		try {
			re = new RegExp(`^${a.src}$`);
		} catch {
			return '';
		}
		return pick(PRINTABLE.filter((ch) => re.test(ch)));
	}
	case 'esc': return { d: '7', D: 'x', w: 'k', W: ' ', s: ' ', S: 'q' }[a.c] || '';
	case 'group': return a.kind === 'look' ? '' : sample(a.alt, rnd);
	default: return '';
	}
}

function mulberry32(seed) {
	return () => {
		seed = (seed + 0x6d2b79f5) | 0;
		let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
		t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

// The prefilter of one rule as the generated table carries it: the lower-cased
// literals separated by "\n" (no literal contains one), or undefined.
// Each one is tested against random strings the regex matches; one that
// rejects such a string is a bug here and is dropped with a warning.
const stats = { rules: 0, filtered: 0, dropped: 0 };
function prefilter(rule, where) {
	stats.rules++;
	let ast, set;
	try {
		ast = parseRegex(rule.regex);
		set = required(ast);
	} catch (e) {
		if (e instanceof Unsupported)
			return undefined;
		throw e;
	}
	if (!set || score(set) < 2)
		return undefined;
	const lits = set.map(asciiLower);
	let re;
	try {
		re = new RegExp(rule.regex, rule.regex_flag === 'i' ? 'i' : '');
	} catch {
		return undefined; /* cannot be checked here, so not used */
	}
	const rnd = mulberry32(stats.rules);
	let checked = 0;
	for (let k = 0; k < 60; k++) {
		const s = sample(ast, rnd);
		if (!re.test(s))
			continue;
		checked++;
		const low = asciiLower(s);
		if (!lits.some((l) => low.includes(l))) {
			process.stderr.write(`uadata: warning: ${where}: prefilter ${JSON.stringify(lits)} rejects ` +
				`${JSON.stringify(s)}, which the regex matches; rule left unfiltered\n`);
			stats.dropped++;
			return undefined;
		}
	}
	if (checked === 0)
		return undefined;
	stats.filtered++;
	return lits.join('\n');
}

// ---- C output ------------------------------------------------------------------

// A C string literal. Printable ASCII stays readable; everything else becomes
// a three-digit octal escape (never ambiguous with a following digit). "?" is
// escaped so no trigraph can form.
function cstr(s) {
	if (s === undefined || s === null)
		return 'NULL';
	const bytes = Buffer.from(s, 'utf8');
	let out = '"';
	for (const b of bytes) {
		if (b === 0x22 || b === 0x5c || b === 0x3f)
			out += '\\' + String.fromCharCode(b);
		else if (b >= 0x20 && b < 0x7f)
			out += String.fromCharCode(b);
		else
			out += '\\' + b.toString(8).padStart(3, '0');
	}
	return out + '"';
}

function table(name, rules, fields, file) {
	let out = `const char *const ${name}[] = {\n`;
	for (const r of rules) {
		const row = [r.regex, r.regex_flag];
		for (const f of fields)
			row.push(f ? r[f] : undefined);
		while (row.length < STRIDE - 1)
			row.push(undefined);
		row.push(prefilter(r, `${file}:${r.line}`));
		out += '\t' + row.map(cstr).join(', ') + ',\n';
	}
	out += '};\n';
	out += `const unsigned ${name}_n = ${rules.length};\n\n`;
	return out;
}

async function main() {
	const [yamlPath, isbotDir] = process.argv.slice(2);
	if (!yamlPath || !isbotDir)
		die('usage: node tools/uadata.mjs REGEXES_YAML ISBOT_PACKAGE_DIR');

	let yamlText, uapPkg, isbotPkg;
	try {
		yamlText = readFileSync(yamlPath, 'utf8');
		uapPkg = JSON.parse(readFileSync(join(dirname(yamlPath), 'package.json'), 'utf8'));
		isbotPkg = JSON.parse(readFileSync(join(isbotDir, 'package.json'), 'utf8'));
	} catch (e) {
		die(`${e.message} (run "make deps" to install the npm packages uap-core and isbot)`);
	}
	const lists = parseRegexesYaml(yamlText, yamlPath);

	const isbotEntry = pathToFileURL(resolve(isbotDir, isbotPkg.module || isbotPkg.main));
	const isbot = await import(isbotEntry.href);
	if (!Array.isArray(isbot.list) || isbot.list.length === 0 || !isbot.list.every((p) => typeof p === 'string'))
		die(`${isbotDir}: the isbot package exports no pattern list`);
	const botPattern = isbot.list.map(jsToPcre).join('|');

	let out = '';
	out += '/*\n** Generated by tools/uadata.mjs from the npm packages\n';
	out += `** uap-core ${uapPkg.version} (regexes.yaml) and isbot ${isbotPkg.version} (pattern list).\n`;
	out += '** Do not edit: run make. Read by src/track/useragent.c.\n*/\n';
	out += '#include <stddef.h>\n\n';
	out += `const unsigned em__ua_stride = ${STRIDE};\n`;
	out += `const char em__ua_data_version[] = ${cstr(`uap-core ${uapPkg.version}, isbot ${isbotPkg.version}`)};\n\n`;
	out += table('em__ua_agents', lists.user_agent_parsers,
		['family_replacement', 'v1_replacement', 'v2_replacement', 'v3_replacement'], yamlPath);
	out += table('em__ua_oses', lists.os_parsers,
		['os_replacement', 'os_v1_replacement', 'os_v2_replacement', 'os_v3_replacement'], yamlPath);
	out += table('em__ua_devices', lists.device_parsers,
		['device_replacement', 'brand_replacement', 'model_replacement', undefined], yamlPath);
	out += `/* Prefilters: ${stats.filtered} of ${stats.rules} rules (${stats.dropped} dropped by the self-check). */\n\n`;
	out += `/* isbot: ${isbot.list.length} patterns in one case-insensitive alternation. */\n`;
	out += `const char em__ua_bot_pattern[] = ${cstr(botPattern)};\n`;
	process.stdout.write(out);
}

main().catch((e) => die(e.stack || String(e)));
