// Loads a large help centre into a running emma for bench/kb/speed.sh: N articles (60 % German,
// 40 % English) through POST /api/v1/faq/import, and M products through the products feed
// (POST /api/v1/products {products:[...]}) in chunks of 10,000, all generated from a German and
// English shop vocabulary drawn with Zipf-like frequencies (a few words very common, most rare;
// German nouns also combine into compounds, as real catalogs do). Then writes the query set:
// the 100 questions of bench/kb/questions.json plus generated 1-6 word searches, one per line
// as "lang<TAB>url-encoded query", a few hundred distinct.
//
//   node bench/kb/gen.mjs --url http://127.0.0.1:PORT (--token SECRET | --password PW [--token-out F]) --queries FILE
//        [--articles 10000] [--products 100000] [--seed 1]
//
// Deterministic for a seed. Prints what it loaded and how long each part took.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, def) => {
	const i = process.argv.indexOf(`--${name}`);
	return i > 0 ? process.argv[i + 1] : def;
};
const URL_ = arg('url');
let TOKEN = arg('token');
const NART = Number(arg('articles', 10000));
const NPROD = Number(arg('products', 100000));
const QFILE = arg('queries');
let seed = Number(arg('seed', 1)) >>> 0 || 1;

// xorshift32: the same data for the same seed.
function rnd() {
	seed ^= seed << 13;
	seed >>>= 0;
	seed ^= seed >>> 17;
	seed ^= seed << 5;
	seed >>>= 0;
	return seed / 4294967296;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];

// Zipf sampler over a list: P(rank k) ~ 1 / k^s.
function zipf(words, s = 1.07) {
	const cum = [];
	let t = 0;
	for (let k = 1; k <= words.length; k++) cum.push((t += 1 / Math.pow(k, s)));
	return () => {
		const x = rnd() * t;
		let lo = 0, hi = cum.length - 1;
		while (lo < hi) {
			const m = (lo + hi) >> 1;
			if (cum[m] < x) lo = m + 1;
			else hi = m;
		}
		return words[lo];
	};
}

const W = {
	de: {
		func: 'der die das und in zu den mit von für ist im dem nicht ein eine als auch auf es an werden aus er hat dass sie nach wird bei einer um am sind noch wie einem über einen so zum war haben nur oder aber vor zur bis mehr durch man sein wurde sei ihre ihr Sie Ihre Ihnen bitte können wir uns unser unsere innerhalb ab pro je sowie sofort gern'.split(' '),
		nouns: 'Bestellung Lieferung Versand Rücksendung Artikel Paket Größe Farbe Rechnung Zahlung Gutschein Konto Kunde Filiale Ware Preis Umtausch Erstattung Tage Werktage Woche Mantel Jacke Hose Kleid Bluse Hemd Pullover Strickjacke Jeans Rock Schal Mütze Handschuhe Schuhe Stiefel Sneaker Tasche Gürtel Socken Shirt Top Blazer Anzug Weste Kissen Decke Vorhang Teppich Lampe Vase Tisch Stuhl Sofa Regal Bett Bettwäsche Handtuch Geschirr Tasse Teller Glas Kerze Spiegel Korb Kommode Sessel Hocker Leuchte Garten Küche Bad Wohnzimmer Schlafzimmer Kinder Damen Herren Baby Wolle Baumwolle Leinen Seide Kaschmir Leder Samt Daunen Denim Viskose Holz Eiche Keramik Porzellan Metall Messing Rattan Marmor Passform Schnitt Kragen Ärmel Knopf Reißverschluss Tasche Futter Sohle Absatz Kapuze Bund Saum Muster Streifen Karo Blumen Punkte Etikett Pflege Wäsche Sale Aktion Kollektion Marke Qualität Garantie Mangel Versandkosten Lieferzeit Retoure Sendung Adresse Packstation Spedition Montage Aufbau Maße Breite Höhe Tiefe Länge Gewicht'.split(' '),
		adj: 'klein groß lang kurz weit eng leicht warm weich neu kostenlos schnell schwarz weiß grau blau rot grün beige braun rosa gelb navy creme natur dunkel hell elegant klassisch modern lässig sportlich nachhaltig recycelt wasserdicht atmungsaktiv pflegeleicht gefüttert gestrickt gesteppt oversize slim regular'.split(' '),
		verbs: 'bestellen liefern zurückschicken umtauschen bezahlen erhalten finden ändern stornieren einlösen waschen pflegen abholen verfolgen anmelden löschen prüfen senden passen tragen kombinieren'.split(' '),
		q: ['Wie kann ich {n} {v}?', 'Was kostet {n}?', 'Wie lange dauert {n}?', 'Kann ich {n} {v}?', 'Wo finde ich {n}?', 'Gibt es {n} für {n}?', 'Was tun bei {n}?', '{n} und {n}: was gilt?'],
	},
	en: {
		func: 'the of and to a in is for on that with as you it be are at this or by from your we our can will not an all if have has when which more within per any also only please us'.split(' '),
		nouns: 'order delivery shipping return item parcel size colour invoice payment voucher account store goods price exchange refund days working week coat jacket trousers dress blouse shirt jumper cardigan jeans skirt scarf hat gloves shoes boots trainers bag belt socks top blazer suit waistcoat cushion blanket curtain rug lamp vase table chair sofa shelf bed bedding towel tableware mug plate glass candle mirror basket dresser armchair stool light garden kitchen bathroom living bedroom kids women men baby wool cotton linen silk cashmere leather velvet down denim viscose wood oak ceramic porcelain metal brass rattan marble fit cut collar sleeve button zip pocket lining sole heel hood waistband hem pattern stripes check floral dots label care washing sale offer collection brand quality warranty fault postage tracking address locker courier assembly dimensions width height depth length weight'.split(' '),
		adj: 'small large long short wide slim light warm soft new free fast black white grey blue red green beige brown pink yellow navy cream natural dark bright elegant classic modern casual sporty sustainable recycled waterproof breathable easy lined knitted quilted oversized regular'.split(' '),
		verbs: 'order deliver return exchange pay receive find change cancel redeem wash care collect track sign delete check send fit wear match'.split(' '),
		q: ['How do I {v} my {n}?', 'How much is {n}?', 'How long does {n} take?', 'Can I {v} a {n}?', 'Where can I find my {n}?', 'Is there {n} for {n}?', 'What if my {n} is {a}?', '{n} and {n}: what applies?'],
	},
};

// The German catalog vocabulary also has compounds ("Wollmantel", "Versandkostenpauschale"):
// pairs of nouns, most of them rare, which is what makes German indexes large.
function compounds(nouns, n) {
	const out = new Set();
	for (let tries = 0; out.size < n; tries++) {
		const a = pick(nouns), b = pick(nouns);
		if (a === b) continue;
		// Once the pairs run short, three-part ones ("Damenwintermantel").
		out.add(a + b.toLowerCase() + (tries > 2 * n ? pick(nouns).toLowerCase() : ''));
	}
	return [...out];
}
for (const lang of ['de', 'en']) {
	const w = W[lang];
	// Rank order: function words first (the commonest), then nouns, adjectives, verbs,
	// then a long tail of compounds (German) or two-word terms (English) and model codes.
	const tail = lang === 'de' ? compounds(w.nouns, 20000) : compounds(w.nouns, 8000).map((x) => x.toLowerCase());
	const codes = Array.from({ length: 5000 }, (_, i) => `${lang === 'de' ? 'Modell' : 'Style'}${(i * 7919) % 100000}`);
	w.all = zipf([...w.func, ...w.nouns, ...w.adj, ...w.verbs, ...tail, ...codes]);
	w.noun = zipf([...w.nouns, ...tail.slice(0, 2000)]);
	w.adjz = zipf(w.adj);
}

const sentence = (lang, min, max) => {
	const n = min + Math.floor(rnd() * (max - min));
	const words = Array.from({ length: n }, () => W[lang].all());
	const s = words.join(' ');
	return s[0].toUpperCase() + s.slice(1) + '.';
};
const fill = (lang, tpl) =>
	tpl.replace(/\{n\}/g, () => W[lang].noun()).replace(/\{v\}/g, () => pick(W[lang].verbs)).replace(/\{a\}/g, () => W[lang].adjz());

function article(i) {
	const lang = rnd() < 0.6 ? 'de' : 'en';
	const paras = 1 + Math.floor(rnd() * 3);
	let answer = '';
	for (let p = 0; p < paras; p++) answer += `${sentence(lang, 8, 25)} ${sentence(lang, 8, 25)}\n\n`;
	if (rnd() < 0.4) answer += `- **${W[lang].noun()}**: ${sentence(lang, 4, 10)}\n- **${W[lang].noun()}**: ${sentence(lang, 4, 10)}\n`;
	return { lang, slug: `gen-${i}`, question: fill(lang, pick(W[lang].q)).slice(0, 290), answer, category: W[lang].noun(), tags: [W[lang].noun()], status: 'published' };
}

function product(i) {
	const lang = rnd() < 0.7 ? 'de' : 'en';
	const w = W[lang];
	const name = `${w.adjz()} ${w.noun()} ${w.noun()} ${w.adjz()}`;
	return {
		sku: `SKU-${i}`,
		name: name[0].toUpperCase() + name.slice(1),
		description: `${sentence(lang, 10, 30)} ${sentence(lang, 5, 20)}`,
		category: w.noun(),
		price: Math.round(500 + rnd() * 50000) / 100,
		currency: 'EUR',
		url: `https://shop.example/p/sku-${i}`,
		availability: rnd() < 0.9 ? 'in_stock' : 'out_of_stock',
	};
}

async function post(path, body) {
	const r = await fetch(URL_ + path, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(body) });
	const text = await r.text();
	if (r.status !== 200) throw new Error(`${path}: ${r.status} ${text.slice(0, 300)}`);
	return JSON.parse(text);
}

function queries() {
	const out = new Set();
	const lines = [];
	const add = (lang, q) => {
		q = q.trim().slice(0, 190);
		if (!q || out.has(lang + q)) return;
		out.add(lang + q);
		lines.push(`${lang}\t${encodeURIComponent(q)}`);
	};
	for (const q of JSON.parse(readFileSync(join(here, 'questions.json'), 'utf8'))) add(q.lang, q.q);
	while (lines.length < 400) {
		const lang = rnd() < 0.6 ? 'de' : 'en';
		const w = W[lang];
		const kind = rnd();
		if (kind < 0.45) add(lang, `${w.noun()} ${w.adjz()}`.toLowerCase()); // product search: "mantel grau"
		else if (kind < 0.6) add(lang, w.noun().toLowerCase());
		else if (kind < 0.8) add(lang, Array.from({ length: 3 + Math.floor(rnd() * 4) }, () => w.all()).join(' ').toLowerCase());
		else add(lang, fill(lang, pick(w.q)).toLowerCase().replace(/[?:]/g, ''));
	}
	return lines;
}

// With --password (the admin's) instead of --token: sign in and make a write token, written
// to --token-out for the searches that should not be logged (operators' are not).
if (!TOKEN) {
	const { login, api } = await import('../../tests/e2e/lib/emma.mjs');
	const s = await login(URL_, 'admin@localhost', arg('password'));
	const r = await api(URL_, 'POST', '/api/v1/tokens', { cookie: s.cookie, csrf: s.csrf, body: { name: 'kb bench', scope: 'write' } });
	if (r.status !== 201) throw new Error(`token: ${r.status} ${r.text}`);
	TOKEN = r.json.secret;
	if (arg('token-out')) writeFileSync(arg('token-out'), TOKEN + '\n');
}

const t0 = Date.now();
if (NART > 0) {
	const all = Array.from({ length: NART }, (_, i) => article(i));
	for (let i = 0; i < all.length; i += 5000) await post('/api/v1/faq/import', { articles: all.slice(i, i + 5000) });
}
const t1 = Date.now();
console.log(`gen: ${NART} articles in ${((t1 - t0) / 1000).toFixed(1)} s`);
for (let i = 0; i < NPROD; i += 10000) {
	const chunk = Array.from({ length: Math.min(10000, NPROD - i) }, (_, k) => product(i + k));
	const c0 = Date.now();
	const r = await post('/api/v1/products', { products: chunk });
	if (r.errors.length) throw new Error(`products: ${JSON.stringify(r.errors.slice(0, 3))}`);
	console.log(`gen: products ${i + chunk.length}/${NPROD} (chunk ${((Date.now() - c0) / 1000).toFixed(1)} s)`);
}
console.log(`gen: ${NPROD} products in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
if (QFILE) {
	const q = queries();
	writeFileSync(QFILE, q.join('\n') + '\n');
	console.log(`gen: ${q.length} distinct queries in ${QFILE}`);
}
