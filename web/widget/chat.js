/*
** Emma chat widget: the visitor's side of the live chat (docs/widget.md; the
** protocol is the visitor WebSocket of docs/chat.md).
**
** An ES module that emma.js loads with emma._load('chat') when the launcher is
** clicked, an invitation arrives, or sessionStorage says a chat is under way.
** Loading it only registers emma._c(host, x); emma.js then calls that with its
** launcher's host element and x = 1 (open the window), {vid, invite} (an
** invitation from the /t answer) or nothing (restore after a page change).
**
** Before a chat, the question typed is searched in the knowledge base and
** matching articles and products are offered (self-service); a footer offers
** the business card, call-me-back and "delete my data" (REST, not the socket).
**
** Everything is drawn into the host's shadow DOM, so the shop's CSS and ours
** do not meet. Text from people is always inserted as text.
**
** Exactly-once: every message gets a client id and sits in the outbox (the
** message list in sessionStorage, state "sending") until its ack. After each
** hello the widget sends resume with the last seq it displayed, then the
** outbox again; the server stores a repeated client id once, and incoming
** messages are deduplicated by seq and client id.
*/

const w = window;
const d = document;
const E = w.emma || {};
const cfg = E._s || {};
const BASE = new URL('../', import.meta.url).href;
const WS_URL = BASE.replace(/^http/, 'ws') + 'ws/visitor';
const KEY = 'emma_chat';
const MAX_BODY = 4000;
const MAX_KEPT = 300; // messages kept for redrawing after a page change
const TYPING_GAP_MS = 2000; // at most one typing frame per 2 s
const TYPING_IDLE_MS = 4000; // "stopped typing" after this long without input
const TYPING_REPEAT_MS = 6000; // "still typing" while the visitor keeps on
const OP_TYPING_MS = 8000; // the operator's indicator goes away without news

const STRINGS = {
	en: {
		open: 'Open chat',
		openUnread: 'Open chat, {n} new',
		minimise: 'Minimise chat',
		title: 'Chat with us',
		online: 'We are online',
		offline: 'Leave us a message',
		waiting: 'Waiting for a free colleague…',
		connecting: 'Connecting…',
		reconnecting: 'Connection lost. Reconnecting… Your messages will be sent.',
		messages: 'Messages',
		message: 'Message',
		send: 'Send',
		sending: 'Sending',
		sent: 'Sent',
		failed: 'Not delivered',
		you: 'You',
		team: 'Support',
		greeting: 'Hello! How can we help you?',
		name: 'Name',
		email: 'E-mail',
		optional: 'optional',
		consent: 'I agree that my details are stored to answer my request.',
		question: 'Your question',
		startChat: 'Start chat',
		needName: 'Please enter your name.',
		needEmail: 'Please enter your e-mail address.',
		badEmail: 'Please enter a valid e-mail address.',
		needConsent: 'Please agree so that we can answer you.',
		needBody: 'Please write a message.',
		offlineIntro: 'Nobody is available right now. Leave us a message and we will answer by e-mail.',
		leave: 'Send message',
		offlineDone: 'Thank you! We will answer you by e-mail.',
		joined: '{name} joined the chat',
		typing: '{name} is typing…',
		end: 'End chat',
		ended: 'The chat has ended.',
		rate: 'How was the chat?',
		stars: '{n} of 5 stars',
		comment: 'Comment (optional)',
		rateSend: 'Send rating',
		rated: 'Thank you for your rating!',
		needRating: 'Please choose 1 to 5 stars.',
		transcript: 'Send transcript to my e-mail',
		transcriptDone: 'The transcript is on its way to {email}.',
		newChat: 'Start a new chat',
		noConnection: 'No connection right now. Please try again in a moment.',
		invitation: 'Invitation',
		from: '{name} from our team',
		reply: 'Reply',
		dismiss: 'Dismiss invitation',
		error: 'Something went wrong: {message}',
		// Self-service before a chat
		suggestions: 'Suggested answers',
		maybe: 'Maybe this answers your question:',
		found1: '1 article found',
		foundN: '{n} articles found',
		prod1: '1 product',
		prodN: '{n} products',
		onlyProd1: '1 product found',
		onlyProdN: '{n} products found',
		articles: 'Articles',
		products: 'Products',
		outOfStock: 'out of stock',
		preorder: 'available for pre-order',
		back: 'Back',
		loading: 'Loading…',
		helpful: 'Did this answer your question?',
		yes: 'Yes',
		no: 'No',
		glad: 'Glad we could help!',
		closeWin: 'Close the chat window',
		sorry: 'Sorry about that. Our team is happy to help.',
		ask: 'Ask an operator',
		helpCentre: 'Open in the help centre',
		newTab: '(opens in a new tab)',
		// Business card
		cardOpen: 'Leave your details',
		cardIntro: 'We will get back to you. Please leave an e-mail address or a phone number; everything else is up to you.',
		phone: 'Phone',
		phoneHint: 'with country code, e.g. +49 30 1234567',
		company: 'Company',
		cardConsent: 'I agree that my details are stored so that you can contact me.',
		cardSend: 'Send details',
		cardDone: 'Thank you! We have your details and will get back to you.',
		needContact: 'Please leave an e-mail address or a phone number.',
		badPhone: 'Please enter the number with its country code, e.g. +49 30 1234567.',
		tooMany: 'Too many requests. Please try again in a few minutes.',
		// Call-me-back
		cbOpen: 'Call me back',
		cbIntro: 'We will call you back. When suits you?',
		when: 'When',
		asap: 'As soon as possible',
		today: 'Today',
		tomorrow: 'Tomorrow',
		fromTime: 'From',
		toTime: 'To',
		topic: 'Topic',
		cbConsent: 'I agree that my phone number is stored so that you can call me back.',
		cbSend: 'Request the call',
		needPhone: 'Please enter your phone number.',
		badWindow: 'Please choose a time window that has not passed yet, with "To" after "From".',
		cbDone: 'Thank you! We will call you back at {phone}, {when}.',
		cbAsap: 'as soon as possible',
		cbWindow: '{day} between {from} and {to}',
		todayL: 'today',
		tomorrowL: 'tomorrow',
		// Privacy
		privacy: 'Privacy',
		privacyIntro: 'This chat keeps your messages and a random visitor id in this browser and on our server. You can have everything stored under this id deleted: your visits, chats, details and call-back requests.',
		forget: 'Delete my data',
		forgetAsk: 'Really delete everything? This cannot be undone.',
		forgetYes: 'Yes, delete',
		cancel: 'Cancel',
		forgetDone: 'Your data has been deleted, here and on our server.',
	},
	de: {
		open: 'Chat öffnen',
		openUnread: 'Chat öffnen, {n} neu',
		minimise: 'Chat minimieren',
		title: 'Chatten Sie mit uns',
		online: 'Wir sind online',
		offline: 'Hinterlassen Sie uns eine Nachricht',
		waiting: 'Warte auf eine freie Kollegin oder einen freien Kollegen…',
		connecting: 'Verbinde…',
		reconnecting: 'Verbindung unterbrochen. Verbinde neu… Ihre Nachrichten werden gesendet.',
		messages: 'Nachrichten',
		message: 'Nachricht',
		send: 'Senden',
		sending: 'Wird gesendet',
		sent: 'Gesendet',
		failed: 'Nicht zugestellt',
		you: 'Sie',
		team: 'Kundenservice',
		greeting: 'Hallo! Wie können wir Ihnen helfen?',
		name: 'Name',
		email: 'E-Mail',
		optional: 'optional',
		consent: 'Ich bin einverstanden, dass meine Angaben zur Beantwortung meiner Anfrage gespeichert werden.',
		question: 'Ihre Frage',
		startChat: 'Chat starten',
		needName: 'Bitte geben Sie Ihren Namen ein.',
		needEmail: 'Bitte geben Sie Ihre E-Mail-Adresse ein.',
		badEmail: 'Bitte geben Sie eine gültige E-Mail-Adresse ein.',
		needConsent: 'Bitte stimmen Sie zu, damit wir Ihnen antworten können.',
		needBody: 'Bitte schreiben Sie eine Nachricht.',
		offlineIntro: 'Gerade ist niemand erreichbar. Hinterlassen Sie uns eine Nachricht, wir antworten per E-Mail.',
		leave: 'Nachricht senden',
		offlineDone: 'Vielen Dank! Wir antworten Ihnen per E-Mail.',
		joined: '{name} ist dem Chat beigetreten',
		typing: '{name} schreibt…',
		end: 'Chat beenden',
		ended: 'Der Chat ist beendet.',
		rate: 'Wie war der Chat?',
		stars: '{n} von 5 Sternen',
		comment: 'Kommentar (optional)',
		rateSend: 'Bewertung senden',
		rated: 'Vielen Dank für Ihre Bewertung!',
		needRating: 'Bitte wählen Sie 1 bis 5 Sterne.',
		transcript: 'Verlauf an meine E-Mail senden',
		transcriptDone: 'Der Verlauf ist unterwegs an {email}.',
		newChat: 'Neuen Chat beginnen',
		noConnection: 'Gerade keine Verbindung. Bitte versuchen Sie es gleich noch einmal.',
		invitation: 'Einladung',
		from: '{name} aus unserem Team',
		reply: 'Antworten',
		dismiss: 'Einladung schließen',
		error: 'Etwas ist schiefgegangen: {message}',
		suggestions: 'Antwortvorschläge',
		maybe: 'Vielleicht beantwortet das Ihre Frage:',
		found1: '1 Artikel gefunden',
		foundN: '{n} Artikel gefunden',
		prod1: '1 Produkt',
		prodN: '{n} Produkte',
		onlyProd1: '1 Produkt gefunden',
		onlyProdN: '{n} Produkte gefunden',
		articles: 'Artikel',
		products: 'Produkte',
		outOfStock: 'nicht vorrätig',
		preorder: 'vorbestellbar',
		back: 'Zurück',
		loading: 'Wird geladen…',
		helpful: 'Hat das Ihre Frage beantwortet?',
		yes: 'Ja',
		no: 'Nein',
		glad: 'Schön, dass wir helfen konnten!',
		closeWin: 'Chatfenster schließen',
		sorry: 'Das tut uns leid. Unser Team hilft Ihnen gern.',
		ask: 'Unser Team fragen',
		helpCentre: 'Im Hilfe-Center öffnen',
		newTab: '(öffnet in einem neuen Tab)',
		cardOpen: 'Kontaktdaten hinterlassen',
		cardIntro: 'Wir melden uns bei Ihnen. Bitte hinterlassen Sie eine E-Mail-Adresse oder eine Telefonnummer; alles andere ist freiwillig.',
		phone: 'Telefon',
		phoneHint: 'mit Ländervorwahl, z. B. +49 30 1234567',
		company: 'Firma',
		cardConsent: 'Ich bin einverstanden, dass meine Angaben gespeichert werden, damit Sie mich kontaktieren können.',
		cardSend: 'Angaben senden',
		cardDone: 'Vielen Dank! Wir haben Ihre Angaben erhalten und melden uns bei Ihnen.',
		needContact: 'Bitte geben Sie eine E-Mail-Adresse oder eine Telefonnummer an.',
		badPhone: 'Bitte geben Sie die Nummer mit Ländervorwahl ein, z. B. +49 30 1234567.',
		tooMany: 'Zu viele Anfragen. Bitte versuchen Sie es in ein paar Minuten noch einmal.',
		cbOpen: 'Rückruf anfordern',
		cbIntro: 'Wir rufen Sie zurück. Wann passt es Ihnen?',
		when: 'Wann',
		asap: 'So bald wie möglich',
		today: 'Heute',
		tomorrow: 'Morgen',
		fromTime: 'Von',
		toTime: 'Bis',
		topic: 'Thema',
		cbConsent: 'Ich bin einverstanden, dass meine Telefonnummer für den Rückruf gespeichert wird.',
		cbSend: 'Rückruf senden',
		needPhone: 'Bitte geben Sie Ihre Telefonnummer ein.',
		badWindow: 'Bitte wählen Sie ein Zeitfenster, das noch nicht vorbei ist, mit „Bis“ nach „Von“.',
		cbDone: 'Vielen Dank! Wir rufen Sie unter {phone} zurück, {when}.',
		cbAsap: 'so bald wie möglich',
		cbWindow: '{day} zwischen {from} und {to} Uhr',
		todayL: 'heute',
		tomorrowL: 'morgen',
		privacy: 'Datenschutz',
		privacyIntro: 'Dieser Chat speichert Ihre Nachrichten und eine zufällige Besucherkennung in diesem Browser und auf unserem Server. Sie können alles löschen lassen, was unter dieser Kennung gespeichert ist: Ihre Besuche, Chats, Angaben und Rückrufwünsche.',
		forget: 'Meine Daten löschen',
		forgetAsk: 'Wirklich alles löschen? Das lässt sich nicht rückgängig machen.',
		forgetYes: 'Ja, löschen',
		cancel: 'Abbrechen',
		forgetDone: 'Ihre Daten wurden gelöscht, hier und auf unserem Server.',
	},
};
const LANG = /^de\b/i.test(cfg.lang || navigator.language || '') ? 'de' : 'en';
const T = STRINGS[LANG];
const t = (k, o = {}) => T[k].replace(/\{(\w+)\}/g, (_, x) => o[x] ?? '');

/* ---- State kept in sessionStorage (survives page changes in this tab) ---- */

// m: the messages displayed, oldest first: {s: seq (0 until acked), c: client
// id, a: author visitor|operator|system, b: body, t: ms, o: {name, avatar},
// st: sending|sent|failed, i: 1 for the invitation text shown locally}.
// Visitor messages with st "sending" are the outbox.
function fresh(keep) {
	return {
		v: 1, open: false, vid: '', conv: null, status: null, op: null, joined: '', seq: 0, floor: 0,
		m: [], closed: false, rated: false, transcript: '', start: null, pre: null,
		offline: null, offlineDone: false, offConv: null, inv: null, answers: [], gone: [], hello: null,
		...keep,
	};
}

function load() {
	try {
		const s = JSON.parse(sessionStorage.getItem(KEY));
		if (s && s.v === 1 && Array.isArray(s.m)) return fresh(s);
	} catch { /* blocked or damaged */ }
	return fresh();
}

let S = load();

const outbox = () => S.m.filter((m) => m.a === 'visitor' && m.st === 'sending');

// Kept while there is something to come back to on the next page; emma.js
// loads this module on page load exactly when the key exists.
function save() {
	const need = S.open || (S.conv && !S.rated) || S.closed && !S.rated || outbox().length ||
		S.start || S.offline || S.inv || S.answers.length;
	try {
		if (need) sessionStorage.setItem(KEY, JSON.stringify(S));
		else sessionStorage.removeItem(KEY);
	} catch { /* blocked: the chat still works on this page */ }
}

function uuid() {
	const c = w.crypto;
	if (c && c.randomUUID) return c.randomUUID();
	const b = new Uint8Array(16);
	if (c && c.getRandomValues) c.getRandomValues(b);
	else for (let i = 0; i < 16; i++) b[i] = Math.random() * 256;
	b[6] = (b[6] & 15) | 64;
	b[8] = (b[8] & 63) | 128;
	const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
	return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const okEmail = (s) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(s);

/* ---- The socket ----------------------------------------------------------- */

let ws = null;
let up = false; // hello received on the current socket
let everUp = false;
let tries = 0;
let retryTimer = 0;
let vidWaits = 0;
let vidWaitUntil = 8000; // performance.now() up to which a missing id is waited for
let afterReset = false; // emma.reset(): wait for the tracker's next id (or the visitor's first message)
const requests = []; // {kind: rate|transcript, email} waiting for "ok"

function connect() {
	clearTimeout(retryTimer);
	retryTimer = 0;
	if (ws || !cfg.site) return;
	const vid = (E._vid && E._vid()) || S.vid;
	// On a first visit the tracker learns its id from its first /t answer
	// (about a second after load): wait for it briefly, so that chat and
	// tracking speak of the same visitor.
	if (!vid && (vidWaits < 8 || afterReset) && performance.now() < vidWaitUntil) {
		vidWaits++;
		retryTimer = setTimeout(connect, 250);
		return;
	}
	afterReset = false;
	const q = new URLSearchParams({ site: cfg.site });
	if (vid) q.set('vid', vid);
	let s;
	try {
		s = new WebSocket(`${WS_URL}?${q}`);
	} catch {
		retry();
		return;
	}
	ws = s;
	s.onmessage = (e) => {
		if (ws !== s) return;
		let f;
		try {
			f = JSON.parse(e.data);
		} catch {
			return;
		}
		if (f && typeof f.type === 'string') receive(f);
	};
	s.onclose = () => {
		if (ws !== s) return;
		ws = null;
		up = false;
		typingSent = false;
		requests.length = 0;
		view();
		retry();
	};
	s.onerror = () => { /* onclose follows */ };
}

// 0.5 s, 1 s, 2 s … 10 s, each with jitter
function retry() {
	if (retryTimer) return;
	const ms = Math.min(10000, 500 * 2 ** tries++);
	retryTimer = setTimeout(connect, ms * (0.5 + Math.random() / 2));
}

function reconnectNow() {
	if (ws) return;
	tries = 0;
	clearTimeout(retryTimer);
	retryTimer = 0;
	connect();
}

function tx(o) {
	if (!up || !ws || ws.readyState !== 1) return false;
	ws.send(JSON.stringify(o));
	return true;
}

function flushOutbox() {
	if (S.start && !S.conv) tx(S.start);
	for (const m of outbox()) tx({ type: 'msg', client_id: m.c, body: m.b });
	if (S.offline) tx(S.offline);
	while (S.answers.length && tx(S.answers[0])) S.answers.shift();
}

/* ---- Frames from the server ---------------------------------------------- */

function receive(f) {
	switch (f.type) {
	case 'hello': onHello(f); break;
	case 'ack': onAck(f); break;
	case 'msg': onMsg(f); break;
	case 'typing': onTyping(f); break;
	case 'invite': onInvite(f); break;
	case 'operator_joined': onJoined(f); break;
	case 'closed': onClosed(f); break;
	case 'available':
		S.hello = { ...S.hello, available: !!f.available };
		break;
	case 'conversation': setConversation(f.conversation); break;
	case 'ok': onOk(f); break;
	case 'error': onError(f); break;
	default: return;
	}
	save();
	view();
}

function onHello(f) {
	up = true;
	everUp = true;
	tries = 0;
	if (f.vid) S.vid = String(f.vid);
	S.hello = { available: !!f.available, prechat: f.prechat || {}, greeting: String(f.greeting || ''), color: f.color };
	if (f.color && !cfg.color) host.style.setProperty('--emma-c', f.color);
	U.greet.textContent = S.hello.greeting || t('greeting');
	U.preGreet.textContent = U.greet.textContent;
	const c = f.conversation;
	if (c && c.id) {
		if (c.id === S.conv) S.closed = false; // the server knows best
		setConversation(c);
		tx({ type: 'resume', after: S.seq });
	} else if (S.conv && !S.closed) {
		// It ended while this tab was away (or on another page).
		S.closed = true;
		system(t('ended'));
	}
	flushOutbox();
	if (f.invite) onInvite(f.invite);
}

// c: {id, status, channel, operator} or an id
function setConversation(c) {
	if (!c) return;
	const id = typeof c === 'object' ? c.id : c;
	if (!id) return;
	if (S.conv && S.conv !== id) {
		// Another conversation: what is displayed belongs to the old one.
		S.m = outbox();
		S.seq = 0;
		S.floor = 0;
		S.op = null;
		S.joined = '';
		S.closed = false;
		S.rated = false;
		S.transcript = '';
		resetLog();
	}
	S.conv = id;
	S.start = null;
	if (typeof c === 'object') {
		if (c.status) S.status = c.status;
		if (c.operator) S.op = { ...S.op, ...c.operator };
		if (c.status === 'closed') onClosed({});
	}
}

function onAck(f) {
	if (S.offline && f.client_id === S.offline.client_id) {
		// An offline conversation: answered by e-mail, not followed here
		S.offline = null;
		S.offlineDone = true;
		S.offConv = f.conversation;
		return;
	}
	if (f.conversation && !S.conv) setConversation(f.conversation);
	const m = S.m.find((x) => x.c && x.c === f.client_id);
	if (!m) return;
	if (f.seq) m.s = f.seq;
	m.st = 'sent';
	if (f.seq > S.seq) S.seq = f.seq;
	draw(m);
}

function onMsg(f) {
	// A message left offline is answered by e-mail: its conversation is not shown here.
	if (S.offline && f.client_id === S.offline.client_id) S.offConv = f.conversation;
	if (f.conversation && f.conversation === S.offConv) return;
	if (f.conversation && S.conv && f.conversation !== S.conv) setConversation(f.conversation);
	else if (f.conversation && !S.conv) setConversation(f.conversation);
	const seq = +f.seq || 0;
	// My own message, echoed (after a resume, or from another tab)
	let m = f.client_id ? S.m.find((x) => x.c === f.client_id) : null;
	if (!m && seq && (S.m.some((x) => x.s === seq) || seq <= S.floor)) return; // seen
	if (!m && f.author === 'operator') {
		// The invitation text shown before the conversation existed
		m = S.m.find((x) => x.i && !x.s && x.b === f.body);
	}
	if (m) {
		if (seq) m.s = seq;
		m.st = 'sent';
		if (seq > S.seq) S.seq = seq;
		draw(m);
		return;
	}
	m = {
		s: seq, c: f.client_id || '', a: f.author === 'visitor' ? 'visitor' : f.author === 'system' ? 'system' : 'operator',
		b: String(f.body ?? ''), t: Date.parse(f.created) || Date.now(), st: 'sent',
	};
	if (m.a === 'operator') {
		if (f.operator) S.op = m.o = f.operator;
		else if (S.op) m.o = S.op;
		opTyping(false);
		if (!S.open) unread++;
	}
	if (seq > S.seq) S.seq = seq;
	add(m);
}

function onTyping(f) {
	if (f.operator) S.op = { ...S.op, ...f.operator };
	opTyping(!!f.typing);
}

function onInvite(f) {
	const id = f.invitation;
	if (!id || S.gone.includes(id) || (S.conv && !S.closed)) return;
	if (S.inv && S.inv.id === id) return;
	S.inv = { id, message: String(f.message || ''), operator: f.operator || null };
}

// Sent on every (re)connect and change: announced once per operator
function onJoined(f) {
	if (f.conversation && f.conversation !== S.conv) setConversation(f.conversation);
	if (f.operator) S.op = f.operator;
	S.status = 'open';
	const name = opName();
	if (S.joined !== name) {
		S.joined = name;
		system(t('joined', { name }));
	}
}

function onClosed(f) {
	if (f.conversation && S.conv && f.conversation !== S.conv) return;
	if (S.closed) return;
	S.closed = true;
	S.status = 'closed';
	opTyping(false);
	system(t('ended'));
}

// f.for names the request: rate, transcript, close
function onOk(f) {
	if (f.for === 'close') return;
	const i = f.for ? requests.findIndex((r) => r.kind === f.for) : 0;
	const r = i >= 0 ? requests.splice(i, 1)[0] : null;
	if (!r) return;
	if (r.kind === 'rate') S.rated = true;
	else if (r.kind === 'transcript') S.transcript = r.email;
}

// Worth sending again later, as opposed to a refusal of the content
const TRANSIENT = ['rate_limited', 'unavailable', 'internal'];

function onError(f) {
	const e = f.error || {};
	const again = TRANSIENT.includes(e.code);
	const m = f.client_id && S.m.find((x) => x.c === f.client_id);
	if (m) {
		if (again) return retrySoon();
		m.st = 'failed';
		m.err = String(e.message || '');
		draw(m);
		return;
	}
	if (S.offline && f.client_id === S.offline.client_id) {
		if (again) return retrySoon();
		S.offline = null;
		U.offErr.textContent = t('error', { message: e.message || e.code || '' });
		return;
	}
	const r = requests.shift();
	const text = t('error', { message: e.message || e.code || '' });
	if (r && r.kind === 'rate') U.rateErr.textContent = text;
	else if (r && r.kind === 'transcript') U.trErr.textContent = text;
	else {
		if (S.start && !S.conv && ['name', 'email', 'consent'].includes(e.field)) S.start = null;
		notice = text;
	}
}

// Outbox again after a refusal for load (rate limit, busy store)
let againTimer = 0;
function retrySoon() {
	if (againTimer) return;
	againTimer = setTimeout(() => {
		againTimer = 0;
		flushOutbox();
	}, 3000 + Math.random() * 2000);
}

/* ---- Visitor actions -------------------------------------------------------- */

function sendMessage(body) {
	body = body.trim().slice(0, MAX_BODY);
	if (!body) return false;
	if (S.closed) return false;
	escalated(body);
	if (!S.conv && !S.start) {
		// The first message opens the conversation anyway; start also says the language.
		S.start = { type: 'start', lang: LANG, page: location.href.slice(0, 2048) };
		tx(S.start);
	}
	const m = { s: 0, c: uuid(), a: 'visitor', b: body, t: Date.now(), st: 'sending' };
	add(m);
	save(); // in the outbox before it goes out: a page change cannot lose it
	if (!tx({ type: 'msg', client_id: m.c, body: m.b }) && afterReset) {
		// Still without the tracker's id after a reset: do not keep the visitor waiting.
		waitForVid(2000, false);
	}
	typing(false);
	return true;
}

function startChat(pre, body) {
	S.pre = pre;
	S.start = { type: 'start', lang: LANG, page: location.href.slice(0, 2048) };
	for (const k of ['name', 'email', 'consent']) if (pre[k] !== undefined && pre[k] !== '') S.start[k] = pre[k];
	tx(S.start);
	sendMessage(body);
}

function sendOffline(o) {
	escalated(o.body);
	S.pre = { ...S.pre, name: o.name, email: o.email };
	S.offline = { type: 'offline', client_id: uuid(), email: o.email, body: o.body };
	if (o.name) S.offline.name = o.name;
	tx(S.offline);
	save();
	view();
}

function answerInvite(accept) {
	const inv = S.inv;
	if (!inv) return;
	if (accept && S.closed) newChat(true);
	S.inv = null;
	S.gone.push(inv.id);
	const a = { type: accept ? 'invite_accept' : 'invite_dismiss', invitation: inv.id };
	if (!tx(a)) S.answers.push(a);
	if (accept) {
		if (inv.message) add({ s: 0, c: '', a: 'operator', b: inv.message, t: Date.now(), o: inv.operator, st: 'sent', i: 1 });
		if (inv.operator) S.op = inv.operator;
		S.start = null;
		openWindow(true);
	}
	save();
	view();
}

function endChat() {
	if (!S.conv || S.closed) return;
	if (!tx({ type: 'close' })) {
		notice = t('noConnection');
		view();
		return;
	}
	onClosed({});
	save();
	view();
}

function request(o) {
	if (!tx(o)) {
		notice = t('noConnection');
		view();
		return false;
	}
	requests.push({ kind: o.type, email: o.email });
	return true;
}

function newChat(quiet) {
	S = fresh({ open: S.open, vid: S.vid, hello: S.hello, pre: S.pre, gone: S.gone });
	resetLog();
	if (!quiet) {
		save();
		view();
		focusFirst();
	}
}

// Visitor typing: at most one frame per TYPING_GAP_MS
let typingWant = false;
let typingSent = false;
let typingAt = 0;
let typingTimer = 0;
let typingIdle = 0;

function typing(on) {
	typingWant = on;
	clearTimeout(typingIdle);
	if (on) typingIdle = setTimeout(() => typing(false), TYPING_IDLE_MS);
	pumpTyping();
}

function pumpTyping() {
	clearTimeout(typingTimer);
	typingTimer = 0;
	if (!S.conv || S.closed || !up) return;
	const stale = typingWant && Date.now() - typingAt >= TYPING_REPEAT_MS;
	if (typingWant === typingSent && !stale) return;
	const wait = typingAt + TYPING_GAP_MS - Date.now();
	if (wait > 0) {
		typingTimer = setTimeout(pumpTyping, wait);
		return;
	}
	if (tx({ type: 'typing', typing: typingWant })) {
		typingSent = typingWant;
		typingAt = Date.now();
	}
}

/* ---- REST beside the socket ----------------------------------------------- */

// Sent as text/plain (the server reads it as JSON): a "simple" request,
// so no CORS preflight stands before it.
async function post(path, body, keepalive) {
	const r = await fetch(BASE + path, { method: 'POST', body: JSON.stringify(body), credentials: 'omit', keepalive: !!keepalive });
	let j = null;
	try {
		j = await r.json();
	} catch { /* 204 or not JSON */ }
	return { status: r.status, json: j || {} };
}

const vidNow = () => (E._vid && E._vid()) || S.vid || '';

// The first n UTF-8 bytes of s, not cutting a character
function cutBytes(s, n) {
	const b = new TextEncoder().encode(s);
	return b.length <= n ? s : new TextDecoder().decode(b.slice(0, n)).replace(/\uFFFD$/, '');
}

/* ---- Self-service: answers before a chat ------------------------------------ */

const SS_WAIT_MS = 250; // debounce of the search while typing
const SS_SETTLED_MS = 1500; // a question left this long is what the visitor asks
const SS_MIN = 3; // characters before a search
const QUERY_MAX = 200; // bytes, as the server takes them

// q: the query of the results shown; n: number of the latest search (older
// answers are dropped); res: {articles, products}; art: the open article
// {id, slug, lang, question, html (null while loading), failed}; votes: id ->
// 'yes'|'no'; searched: the last question searched (for the escalation).
const ss = { q: '', n: 0, ctl: null, timer: 0, logTimer: 0, logged: '', res: null, art: null, votes: {}, searched: '' };

// Before a conversation, and only then, typing a question searches.
function ssInput(field) {
	if (S.conv || S.start || S.closed || S.m.some((m) => m.a === 'visitor')) return;
	clearTimeout(ss.timer);
	const q = field.value.trim().replace(/\s+/g, ' ');
	if (q.length < SS_MIN) {
		ssClear();
		return;
	}
	ss.timer = setTimeout(() => ssSearch(cutBytes(q, QUERY_MAX)), SS_WAIT_MS);
	// Searches while typing are not recorded (half words would look like
	// content gaps); the question once the visitor stops typing is.
	clearTimeout(ss.logTimer);
	ss.logTimer = setTimeout(() => ssLog(cutBytes(q, QUERY_MAX)), SS_SETTLED_MS);
}

function ssLog(q) {
	if (q === ss.logged) return;
	ss.logged = q;
	const p = new URLSearchParams({ q, lang: LANG, site: cfg.site || 'default', limit: '1', products: '1' });
	const vid = vidNow();
	if (vid) p.set('vid', vid);
	fetch(`${BASE}api/v1/faq/search?${p}`, { credentials: 'omit', keepalive: true }).catch(() => {});
}

function ssClear() {
	clearTimeout(ss.timer);
	clearTimeout(ss.logTimer);
	if (ss.ctl) ss.ctl.abort();
	ss.ctl = null;
	ss.n++;
	ss.q = '';
	ss.res = null;
	ss.art = null;
	ssDraw();
	view();
}

async function ssSearch(q) {
	if (q === ss.q && ss.res) return;
	const n = ++ss.n;
	if (ss.ctl) ss.ctl.abort();
	const ctl = (ss.ctl = new AbortController());
	const p = new URLSearchParams({ q, lang: LANG, site: cfg.site || 'default', limit: '3', products: '3', log: '0' });
	const vid = vidNow();
	if (vid) p.set('vid', vid);
	let j = null;
	try {
		const r = await fetch(`${BASE}api/v1/faq/search?${p}`, { signal: ctl.signal, credentials: 'omit' });
		if (r.ok) j = await r.json();
	} catch { /* offline or aborted: no suggestions */ }
	if (n !== ss.n) return;
	ss.ctl = null;
	ss.q = q;
	ss.searched = q;
	ss.res = j && { articles: j.articles || [], products: j.products || [] };
	// An article the visitor opened stays open (a late answer must not close it).
	ssDraw();
	view();
}

const ssCount = () => (ss.res ? ss.res.articles.length + ss.res.products.length : 0);

// What the screen reader hears: "3 articles found" (and the products).
function ssAnnounce() {
	const a = ss.res ? ss.res.articles.length : 0;
	const p = ss.res ? ss.res.products.length : 0;
	let text = '';
	if (a) text = a === 1 ? t('found1') : t('foundN', { n: a });
	if (a && p) text += `, ${p === 1 ? t('prod1') : t('prodN', { n: p })}`;
	else if (p) text = p === 1 ? t('onlyProd1') : t('onlyProdN', { n: p });
	if (U.ssLive.textContent !== text) U.ssLive.textContent = text;
}

function ssDraw() {
	if (!U.ss) return;
	ssAnnounce();
	const res = ss.res || { articles: [], products: [] };
	U.ssArts.replaceChildren(...res.articles.map((a) => h('li', null,
		h('button', { type: 'button', class: 'art', 'data-id': a.id, onclick: () => ssOpen(a) },
			h('span', { class: 'q' }, marked(a.question_html)),
			a.snippet_html ? h('span', { class: 'sn' }, marked(a.snippet_html)) : null))));
	U.ssArts.hidden = !res.articles.length;
	U.ssProds.replaceChildren(...res.products.map(productItem));
	U.ssProds.hidden = !res.products.length;
	ssDrawArticle();
}

function productItem(p) {
	const url = safeUrl(p.url);
	const img = safeUrl(p.image);
	const kids = [];
	if (img) kids.push(h('img', { src: img, alt: '', loading: 'lazy', width: '44', height: '44', onerror: (e) => e.target.remove() }));
	const info = h('span', { class: 'pi' }, h('span', { class: 'pn' }, p.name_html ? marked(p.name_html) : String(p.name || p.sku || '')));
	const price = money(p.price, p.currency);
	const avail = p.availability === 'out_of_stock' ? t('outOfStock') : p.availability === 'preorder' ? t('preorder') : '';
	if (price || avail) info.append(h('span', { class: 'pp' }, [price, avail].filter(Boolean).join(' · ')));
	kids.push(info);
	// Products are pages of this shop: the link opens in the same tab (the chat comes along).
	return h('li', null, url ? h('a', { class: 'prod', href: url }, ...kids) : h('span', { class: 'prod' }, ...kids));
}

function money(v, cur) {
	if (typeof v !== 'number' || !isFinite(v)) return '';
	try {
		if (/^[A-Z]{3}$/.test(cur || '')) return new Intl.NumberFormat(LANG, { style: 'currency', currency: cur }).format(v);
	} catch { /* unknown currency */ }
	return new Intl.NumberFormat(LANG, { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(v);
}

async function ssOpen(a) {
	ss.art = { id: a.id, slug: a.slug, lang: a.lang || LANG, question: '', html: null, failed: false };
	ssDrawArticle();
	U.ssArtTitle.focus(); // before view(), which would refocus what it sees hidden
	view();
	const p = new URLSearchParams({ site: cfg.site || 'default' });
	const vid = vidNow();
	if (vid) p.set('vid', vid);
	let j = null;
	try {
		const r = await fetch(`${BASE}api/v1/public/faq/${encodeURIComponent(a.id)}?${p}`, { credentials: 'omit' });
		if (r.ok) j = await r.json();
	} catch { /* offline */ }
	if (!ss.art || ss.art.id !== a.id) return;
	const art = j && j.article;
	if (art) Object.assign(ss.art, { question: String(art.question || ''), html: String(art.answer_html || ''), slug: art.slug || a.slug, lang: art.lang || ss.art.lang });
	else ss.art.failed = true;
	ssDrawArticle();
}

function ssDrawArticle() {
	const a = ss.art;
	U.ssList.hidden = !!a;
	U.ssArt.hidden = !a;
	if (!a) return;
	U.ssArtTitle.textContent = a.question || (a.html === null && !a.failed ? t('loading') : '');
	if (a.failed) U.ssAnswer.replaceChildren(h('p', null, t('noConnection')));
	else if (a.html === null) U.ssAnswer.replaceChildren();
	else U.ssAnswer.replaceChildren(safeHtml(a.html));
	const site = encodeURIComponent(cfg.site || 'default');
	U.ssHelp.hidden = !a.slug;
	if (a.slug) U.ssHelp.href = `${BASE}help/${site}/${encodeURIComponent(a.lang)}/${encodeURIComponent(a.slug)}`;
	const vote = ss.votes[a.id];
	U.ssVote.hidden = !!vote || a.html === null;
	U.ssYes.hidden = vote !== 'yes';
	U.ssNo.hidden = vote !== 'no';
}

function ssBack() {
	const id = ss.art && ss.art.id;
	ss.art = null;
	ssDrawArticle();
	const b = [...U.ssArts.querySelectorAll('button')].find((x) => x.dataset.id === id);
	if (b) b.focus();
	view();
	if (!b) focusFirst();
}

function kbEvent(type, o) {
	const body = { site: cfg.site || 'default', type, lang: LANG, ...o };
	const vid = vidNow();
	if (vid) body.vid = vid;
	return post('api/v1/public/kb/events', body, true).catch(() => {});
}

function ssVote(yes) {
	const a = ss.art;
	if (!a || ss.votes[a.id]) return;
	ss.votes[a.id] = yes ? 'yes' : 'no';
	const body = { helpful: yes, site: cfg.site || 'default' };
	const vid = vidNow();
	if (vid) body.vid = vid;
	post(`api/v1/faq/${encodeURIComponent(a.id)}/vote`, body, true).catch(() => {});
	// Answered without a chat: the deflection the shop counts.
	if (yes) kbEvent('deflected', { article: a.id, query: ss.searched });
	ssDrawArticle();
	(yes ? U.ssYesText : U.ssNoText).focus();
}

// "Ask an operator": the question goes to the team (the form asks for
// anything it still needs).
function ssAsk() {
	if (U.mode === 'pre') {
		U.pre.requestSubmit();
		return;
	}
	if (U.mode === 'chat' && U.text.value.trim()) {
		U.composer.requestSubmit();
		return;
	}
	ss.art = null;
	ssDraw();
	view();
	focusFirst();
}

// After "Yes": done, close the window with a clean slate.
function ssDone() {
	for (const f of [U.text, U.preBody, U.offBody]) f.value = '';
	grow();
	ssClear();
	closeWindow();
}

// The first message after a search: the question still went to a person.
function escalated(body) {
	if (!ss.searched) return;
	kbEvent('escalated', { query: cutBytes(body.trim().replace(/\s+/g, ' '), QUERY_MAX) });
	ss.searched = '';
	ssClear();
}

// <mark> from the search, everything else as text
function marked(html) {
	return safeHtml(html, true);
}

const TAGS = new Set(['P', 'BR', 'STRONG', 'EM', 'B', 'I', 'CODE', 'PRE', 'UL', 'OL', 'LI', 'BLOCKQUOTE', 'H1', 'H2', 'H3',
	'H4', 'H5', 'H6', 'HR', 'A', 'IMG', 'TABLE', 'THEAD', 'TBODY', 'TR', 'TH', 'TD', 'DEL', 'MARK']);
const DROP = /^(SCRIPT|STYLE|TEMPLATE|IFRAME|OBJECT|EMBED|NOSCRIPT|svg|math)$/;

// The server renders Markdown safely already; this keeps only known tags
// and http(s) links and images all the same, parsed in an inert template.
function safeHtml(html, onlyMark) {
	const tpl = d.createElement('template');
	tpl.innerHTML = String(html || '');
	return cleanNodes(tpl.content, onlyMark);
}

function cleanNodes(src, onlyMark) {
	const out = d.createDocumentFragment();
	for (const n of src.childNodes) {
		if (n.nodeType === 3) {
			out.append(n.data);
			continue;
		}
		if (n.nodeType !== 1 || DROP.test(n.tagName)) continue;
		const tag = n.tagName;
		if (onlyMark ? tag !== 'MARK' : !TAGS.has(tag)) {
			out.append(cleanNodes(n, onlyMark)); // the text, without the tag
			continue;
		}
		const el = d.createElement(tag.toLowerCase());
		if (tag === 'A') {
			const u = safeUrl(n.getAttribute('href'), true);
			if (u) {
				el.setAttribute('href', u);
				el.setAttribute('target', '_blank');
				el.setAttribute('rel', 'noopener noreferrer');
			}
		} else if (tag === 'IMG') {
			const u = safeUrl(n.getAttribute('src'));
			if (!u) continue;
			el.setAttribute('src', u);
			el.setAttribute('alt', n.getAttribute('alt') || '');
			el.setAttribute('loading', 'lazy');
		}
		el.append(cleanNodes(n, onlyMark));
		out.append(el);
	}
	return out;
}

function safeUrl(u, mail) {
	if (!u) return '';
	try {
		const x = new URL(u, BASE);
		if (/^https?:$/.test(x.protocol) || (mail && x.protocol === 'mailto:')) return x.href;
	} catch { /* not a URL */ }
	return '';
}

/* ---- Side panels: business card, call-me-back, privacy ------------------------ */

// What was sent in this tab's session, kept apart from emma_chat (whose
// presence makes emma.js load the chat on every page).
const SENT_KEY = 'emma_sent';
let sent = {};
try {
	sent = JSON.parse(sessionStorage.getItem(SENT_KEY)) || {};
} catch { /* blocked or damaged */ }

function keepSent() {
	try {
		sessionStorage.setItem(SENT_KEY, JSON.stringify(sent));
	} catch { /* blocked */ }
}

function openSide(name) {
	U.side = name;
	notice = '';
	if (name === 'card') fillCard();
	if (name === 'callback') fillCallback();
	if (name === 'privacy') {
		U.fgAsk.hidden = true;
		U.fgBtn.hidden = false;
		U.fgDone.hidden = true;
		U.fgErr.textContent = '';
	}
	view();
	focusFirst();
}

function closeSide() {
	const was = U.side;
	U.side = null;
	const b = was && U.foot.querySelector(`[data-side="${was}"]`);
	if (b) b.focus();
	view();
	if (!b) focusFirst();
}

// Marks the field at fault with its message (next to it), or the form's line.
function fieldErrors(form, errLine, bad, text) {
	for (const el of form.querySelectorAll('input,textarea,select')) {
		el.toggleAttribute('aria-invalid', el === bad);
		const e = el.id && form.querySelector(`[data-for="${el.id}"]`);
		if (e) e.textContent = el === bad ? text : '';
	}
	errLine.textContent = bad && form.querySelector(`[data-for="${bad.id}"]`) ? '' : text;
	if (bad) bad.focus();
}

// A field with its own error line, described by it (and a hint if any)
function xfield(label, input, optional, hint) {
	const f = field(label, input, optional);
	const err = h('p', { class: 'errs', role: 'alert', 'data-for': input.id, id: `${input.id}-e` });
	let desc = err.id;
	if (hint) {
		const hid = `${input.id}-h`;
		f.append(h('p', { class: 'hint', id: hid }, hint));
		desc = `${hid} ${desc}`;
	}
	input.setAttribute('aria-describedby', desc);
	f.append(err);
	return f;
}

// The answer of a public POST as the text for the visitor; '' = stored.
function refusal(r, fields) {
	if (r.status >= 200 && r.status < 300) return null;
	const e = (r.json && r.json.error) || {};
	if (r.status === 429) return { text: t('tooMany') };
	const f = fields[e.field];
	if (r.status === 422 && f) return { bad: f[0], text: f[1] || e.message || '' };
	return { text: t('error', { message: e.message || e.code || r.status }) };
}

function buildCard() {
	U.cdName = h('input', { type: 'text', autocomplete: 'name', maxlength: '200' });
	U.cdEmail = h('input', { type: 'email', autocomplete: 'email', maxlength: '254' });
	U.cdPhone = h('input', { type: 'tel', autocomplete: 'tel', maxlength: '40' });
	U.cdCompany = h('input', { type: 'text', autocomplete: 'organization', maxlength: '200' });
	U.cdMsg = h('textarea', { rows: '3', maxlength: '2000' });
	U.cdConsent = h('input', { type: 'checkbox', id: uid('c') });
	U.cdErr = errorLine();
	U.cdForm = h('form', { novalidate: true, class: 'fld-list' },
		h('p', null, t('cardIntro')),
		xfield(t('name'), U.cdName, true), xfield(t('email'), U.cdEmail, true),
		xfield(t('phone'), U.cdPhone, true, t('phoneHint')), xfield(t('company'), U.cdCompany, true),
		xfield(t('message'), U.cdMsg, true),
		h('div', { class: 'chk' }, U.cdConsent, h('label', { for: U.cdConsent.id }, t('cardConsent'))),
		U.cdErr, U.cdSend = h('button', { type: 'submit', class: 'btn' }, t('cardSend')));
	U.cdForm.addEventListener('submit', (e) => {
		e.preventDefault();
		sendCard();
	});
	U.cdDone = h('p', { role: 'status', tabindex: '-1' });
	return sidePanel('card', t('cardOpen'), U.cdForm, U.cdDone);
}

function fillCard() {
	U.cdForm.hidden = !!sent.card;
	U.cdDone.hidden = !sent.card;
	U.cdDone.textContent = sent.card ? t('cardDone') : '';
	if (S.pre) {
		if (S.pre.name && !U.cdName.value) U.cdName.value = S.pre.name;
		if (S.pre.email && !U.cdEmail.value) U.cdEmail.value = S.pre.email;
	}
}

async function sendCard() {
	const v = (el) => el.value.trim();
	const email = v(U.cdEmail);
	const phone = v(U.cdPhone);
	let bad = null;
	let text = '';
	if (!email && !phone) [bad, text] = [U.cdEmail, t('needContact')];
	else if (email && !okEmail(email)) [bad, text] = [U.cdEmail, t('badEmail')];
	fieldErrors(U.cdForm, U.cdErr, bad, text);
	if (bad) return;
	const body = { site: cfg.site || 'default', consent: U.cdConsent.checked, wording: t('cardConsent') };
	const vid = vidNow();
	if (vid) body.vid = vid;
	for (const [k, el] of [['name', U.cdName], ['email', U.cdEmail], ['phone', U.cdPhone], ['company', U.cdCompany], ['message', U.cdMsg]]) {
		if (v(el)) body[k] = v(el);
	}
	U.cdSend.disabled = true;
	let r;
	try {
		r = await post('api/v1/public/card', body);
	} catch {
		r = { status: 0, json: { error: { message: t('noConnection') } } };
	} finally {
		U.cdSend.disabled = false;
	}
	const no = r.status ? refusal(r, {
		email: [U.cdEmail, t('badEmail')], phone: [U.cdPhone, t('badPhone')], name: [U.cdName], company: [U.cdCompany],
		message: [U.cdMsg],
	}) : { text: t('noConnection') };
	if (no) {
		fieldErrors(U.cdForm, U.cdErr, no.bad || null, no.text);
		return;
	}
	sent.card = (r.json.contact && r.json.contact.id) || true;
	keepSent();
	S.pre = { ...S.pre, ...(body.name ? { name: body.name } : {}), ...(body.email ? { email: body.email } : {}) };
	fillCard();
	U.cdDone.focus();
}

function buildCallback() {
	U.cbPhone = h('input', { type: 'tel', autocomplete: 'tel', maxlength: '40', required: true, 'aria-required': 'true' });
	U.cbName = h('input', { type: 'text', autocomplete: 'name', maxlength: '200' });
	U.cbDay = h('select', null,
		h('option', { value: '' }, t('asap')), h('option', { value: '0' }, t('today')), h('option', { value: '1' }, t('tomorrow')));
	U.cbFrom = h('input', { type: 'time', step: '900' });
	U.cbTo = h('input', { type: 'time', step: '900' });
	U.cbTopic = h('input', { type: 'text', maxlength: '200' });
	U.cbConsent = h('input', { type: 'checkbox', id: uid('c') });
	U.cbErr = errorLine();
	U.cbTimes = h('div', { class: 'two' }, xfield(t('fromTime'), U.cbFrom), xfield(t('toTime'), U.cbTo));
	U.cbDay.addEventListener('change', () => {
		presetTimes();
		U.cbTimes.hidden = !U.cbDay.value;
	});
	U.cbForm = h('form', { novalidate: true, class: 'fld-list' },
		h('p', null, t('cbIntro')),
		xfield(t('phone'), U.cbPhone, false, t('phoneHint')), xfield(t('name'), U.cbName, true),
		xfield(t('when'), U.cbDay), U.cbTimes, xfield(t('topic'), U.cbTopic, true),
		h('div', { class: 'chk' }, U.cbConsent, h('label', { for: U.cbConsent.id }, t('cbConsent'))),
		U.cbErr, U.cbSend = h('button', { type: 'submit', class: 'btn' }, t('cbSend')));
	U.cbTimes.hidden = true;
	U.cbForm.addEventListener('submit', (e) => {
		e.preventDefault();
		sendCallback();
	});
	U.cbDone = h('p', { role: 'status', tabindex: '-1' });
	U.cbAgain = h('button', { type: 'button', class: 'btn sec', onclick: () => {
		delete sent.cb;
		keepSent();
		fillCallback();
		U.cbPhone.focus();
	} }, t('cbOpen'));
	return sidePanel('callback', t('cbOpen'), U.cbForm, U.cbDone, U.cbAgain);
}

// Today: the next full hour (at least 30 minutes ahead) for two hours; tomorrow: 9 to 11.
function presetTimes() {
	if (!U.cbDay.value || (U.cbFrom.value && U.cbTo.value)) return;
	const hh = (x) => `${String(Math.min(23, x)).padStart(2, '0')}:00`;
	let from = 9;
	if (U.cbDay.value === '0') from = Math.min(22, new Date(Date.now() + 30 * 60000).getHours() + 1);
	U.cbFrom.value = hh(from);
	U.cbTo.value = from + 2 > 23 ? '23:59' : hh(from + 2);
}

// day 0 = today, 1 = tomorrow; "14:30" in the browser's time zone
function localTime(day, hm) {
	const [H, M] = hm.split(':').map(Number);
	const x = new Date();
	return new Date(x.getFullYear(), x.getMonth(), x.getDate() + day, H, M, 0, 0);
}

// RFC 3339 with the browser's offset: 2026-11-23T14:00:00+01:00
function rfc3339(dt) {
	const p = (n) => String(n).padStart(2, '0');
	const off = -dt.getTimezoneOffset();
	const sign = off < 0 ? '-' : '+';
	const a = Math.abs(off);
	return `${dt.getFullYear()}-${p(dt.getMonth() + 1)}-${p(dt.getDate())}T${p(dt.getHours())}:${p(dt.getMinutes())}:00` +
		`${sign}${p(Math.floor(a / 60))}:${p(a % 60)}`;
}

function fillCallback() {
	const c = sent.cb;
	U.cbForm.hidden = !!c;
	U.cbDone.hidden = !c;
	U.cbAgain.hidden = !c;
	if (c) U.cbDone.textContent = t('cbDone', { phone: c.phone, when: windowText(c.start, c.end) });
	if (S.pre && S.pre.name && !U.cbName.value) U.cbName.value = S.pre.name;
}

function windowText(start, end) {
	const a = start && new Date(start);
	const b = end && new Date(end);
	if (!a || !b || isNaN(a) || isNaN(b)) return t('cbAsap');
	const tf = new Intl.DateTimeFormat(LANG, { hour: '2-digit', minute: '2-digit' });
	const days = Math.round((new Date(a.getFullYear(), a.getMonth(), a.getDate()) - new Date(new Date().toDateString())) / 864e5);
	const day = days === 0 ? t('todayL') : days === 1 ? t('tomorrowL') :
		new Intl.DateTimeFormat(LANG, { weekday: 'long', day: 'numeric', month: 'long' }).format(a);
	return t('cbWindow', { day, from: tf.format(a), to: tf.format(b) });
}

async function sendCallback() {
	const phone = U.cbPhone.value.trim();
	let bad = null;
	let text = '';
	let start = null;
	let end = null;
	if (!phone) [bad, text] = [U.cbPhone, t('needPhone')];
	else if (U.cbDay.value) {
		if (!U.cbFrom.value || !U.cbTo.value) [bad, text] = [U.cbFrom.value ? U.cbTo : U.cbFrom, t('badWindow')];
		else {
			start = localTime(+U.cbDay.value, U.cbFrom.value);
			end = localTime(+U.cbDay.value, U.cbTo.value);
			if (end <= start || end <= new Date()) [bad, text] = [U.cbTo, t('badWindow')];
		}
	}
	fieldErrors(U.cbForm, U.cbErr, bad, text);
	if (bad) return;
	const vid = vidNow();
	if (!vid) {
		fieldErrors(U.cbForm, U.cbErr, null, t('noConnection'));
		reconnectNow();
		return;
	}
	const body = { site: cfg.site || 'default', vid, phone };
	if (U.cbName.value.trim()) body.name = U.cbName.value.trim();
	if (U.cbTopic.value.trim()) body.topic = U.cbTopic.value.trim();
	if (start) {
		body.window_start = rfc3339(start);
		body.window_end = rfc3339(end);
	}
	if (U.cbConsent.checked) {
		body.consent = true;
		body.consent_text = t('cbConsent');
	}
	U.cbSend.disabled = true;
	let r;
	try {
		r = await post('api/v1/public/callbacks', body);
	} catch {
		r = null;
	} finally {
		U.cbSend.disabled = false;
	}
	const no = r ? refusal(r, {
		phone: [U.cbPhone, t('badPhone')], window_start: [U.cbFrom, t('badWindow')], window_end: [U.cbTo, t('badWindow')],
		name: [U.cbName], topic: [U.cbTopic],
	}) : { text: t('noConnection') };
	if (no) {
		fieldErrors(U.cbForm, U.cbErr, no.bad || null, no.text);
		return;
	}
	const cb = r.json.callback || {};
	sent.cb = { id: cb.id || '', phone, start: cb.window_start || body.window_start || '', end: cb.window_end || body.window_end || '' };
	keepSent();
	for (const el of [U.cbTopic, U.cbFrom, U.cbTo]) el.value = '';
	U.cbDay.value = '';
	U.cbTimes.hidden = true;
	fillCallback();
	U.cbDone.focus();
}

function buildPrivacy() {
	U.fgErr = errorLine();
	U.fgBtn = h('button', { type: 'button', class: 'btn sec', onclick: () => {
		U.fgAsk.hidden = false;
		U.fgBtn.hidden = true;
		U.fgNo.focus();
	} }, t('forget'));
	U.fgNo = h('button', { type: 'button', class: 'btn sec', onclick: () => {
		U.fgAsk.hidden = true;
		U.fgBtn.hidden = false;
		U.fgBtn.focus();
	} }, t('cancel'));
	U.fgYes = h('button', { type: 'button', class: 'btn danger', onclick: forgetMe }, t('forgetYes'));
	U.fgAsk = h('div', { class: 'ask-del', role: 'group', 'aria-label': t('forget'), hidden: true },
		h('p', null, t('forgetAsk')), h('div', { class: 'row' }, U.fgYes, U.fgNo));
	U.fgDone = h('p', { role: 'status', tabindex: '-1', hidden: true }, t('forgetDone'));
	return sidePanel('privacy', t('privacy'), h('p', null, t('privacyIntro')), U.fgBtn, U.fgAsk, U.fgErr, U.fgDone);
}

// Erases this visitor on the server, then everything the widget and the
// tracker keep in this browser; a new anonymous id follows.
let forgetVid = ''; // the id still to erase after a failed attempt
let trackerOff = false; // consent withdrawn here until the erase went through

async function forgetMe() {
	const vid = forgetVid || vidNow();
	U.fgYes.disabled = true;
	U.fgErr.textContent = '';
	// Not the tracker's reset(), which first sends what is queued under the
	// old id: withdrawing consent drops its id
	// (localStorage emma_vid) and its queue at once, so that nothing is sent
	// under the old id while it is erased; granting it again afterwards
	// restores tracking under a new id (from the next /t answer). Only
	// where it had an id, i.e. where the visitor had not declined.
	if (E._vid && E._vid() && E.consent) {
		E.consent(false);
		trackerOff = true;
	}
	// No socket under the old id either.
	hangUp();
	let r = { status: 204, json: {} };
	if (vid) {
		try {
			r = await post('api/v1/public/forget', { site: cfg.site || 'default', vid });
		} catch {
			r = null;
		}
	}
	U.fgYes.disabled = false;
	if (!r || r.status >= 300) {
		forgetVid = vid;
		const e = (r && r.json.error) || {};
		U.fgErr.textContent = !r ? t('noConnection') : r.status === 429 ? t('tooMany') : t('error', { message: e.message || r.status });
		return;
	}
	forgetVid = '';
	if (trackerOff) {
		trackerOff = false;
		E.consent(true);
	}
	try {
		localStorage.removeItem('emma_vid');
	} catch { /* blocked */ }
	forgetLocal();
	U.fgAsk.hidden = true;
	U.fgBtn.hidden = false;
	U.fgDone.hidden = false;
	save();
	view();
	U.fgDone.focus();
	chatAgain();
}

// Closes the socket; nothing reconnects until connect() is called again.
function hangUp() {
	const s = ws;
	ws = null;
	up = false;
	clearTimeout(retryTimer);
	retryTimer = 0;
	if (s) s.close();
}

// Forgets this tab's chat: what is stored, drawn and typed.
function forgetLocal() {
	try {
		sessionStorage.removeItem(KEY);
		sessionStorage.removeItem(SENT_KEY);
	} catch { /* blocked */ }
	sent = {};
	S = fresh({ open: S.open });
	requests.length = 0;
	typingSent = false;
	resetLog();
	ss.votes = {};
	ss.searched = '';
	for (const f of [U.text, U.preBody, U.offBody, U.cdName, U.cdEmail, U.cdPhone, U.cdCompany, U.cdMsg, U.cbPhone, U.cbName, U.cbTopic,
		U.preName, U.preEmail, U.rateComment, U.trEmail]) f.value = '';
	for (const f of [U.cdConsent, U.cbConsent, U.preConsent]) f.checked = false;
	ssClear();
}

// How long connect() waits for the tracker's id from now; patient: past
// the usual number of tries (after a reset).
function waitForVid(ms, patient) {
	vidWaits = 0;
	vidWaitUntil = performance.now() + ms;
	afterReset = patient;
}

// Chat again under the tracker's new id (connect waits for it briefly).
function chatAgain() {
	waitForVid(3000, false);
	connect();
}

// emma.reset() (the shop's logout): the chat of the person before is
// closed and forgotten in this tab; the window stays open or closed as it
// was. The next socket waits for the tracker's new id (its next /t answer),
// up to a minute, or less once the new visitor writes.
function onReset() {
	hangUp();
	everUp = false; // no "connection lost" for the socket closed on purpose
	tries = 0;
	forgetVid = '';
	if (!U.win) return; // not drawn yet: emma.js already removed the stored chat
	forgetLocal();
	unread = 0;
	opTyping(false);
	U.side = null;
	save();
	view();
	waitForVid(60000, true);
	connect();
}

function sidePanel(name, title, ...kids) {
	const id = uid('side');
	return h('section', { class: 'panel side', 'aria-labelledby': id, hidden: true, 'data-panel': name },
		h('div', { class: 'sidehd' },
			h('button', { type: 'button', class: 'ib backb', onclick: closeSide }, `‹ ${t('back')}`),
			h('h3', { id, tabindex: '-1' }, title)),
		...kids);
}

function buildSelfService() {
	U.ssLive = h('p', { class: 'sr', role: 'status', 'aria-live': 'polite' });
	U.ssArts = h('ul', { class: 'arts', 'aria-label': t('articles') });
	U.ssProds = h('ul', { class: 'prods', 'aria-label': t('products') });
	U.ssList = h('div', null, h('p', { class: 'sshd' }, t('maybe')), U.ssArts, U.ssProds);
	U.ssArtTitle = h('h3', { tabindex: '-1' });
	U.ssAnswer = h('div', { class: 'ans' });
	U.ssHelp = h('a', { class: 'helpl', target: '_blank', rel: 'noopener' }, t('helpCentre'), h('span', { class: 'sr' }, ` ${t('newTab')}`),
		h('span', { 'aria-hidden': 'true' }, ' ↗'));
	U.ssVote = h('div', { class: 'vote', role: 'group', 'aria-label': t('helpful') },
		h('p', null, t('helpful')),
		h('div', { class: 'row' },
			h('button', { type: 'button', class: 'btn sec', onclick: () => ssVote(true) }, t('yes')),
			h('button', { type: 'button', class: 'btn sec', onclick: () => ssVote(false) }, t('no'))));
	U.ssYesText = h('p', { tabindex: '-1', role: 'status' }, t('glad'));
	U.ssYes = h('div', { class: 'voted' }, U.ssYesText, h('button', { type: 'button', class: 'btn', onclick: ssDone }, t('closeWin')));
	U.ssNoText = h('p', { tabindex: '-1', role: 'status' }, t('sorry'));
	U.ssNo = h('div', { class: 'voted' }, U.ssNoText);
	U.ssArt = h('div', { class: 'artv', hidden: true },
		h('button', { type: 'button', class: 'ib backb', onclick: ssBack }, `‹ ${t('back')}`),
		U.ssArtTitle, U.ssAnswer, U.ssHelp, U.ssVote, U.ssYes, U.ssNo);
	U.ssAsk = h('button', { type: 'button', class: 'btn sec ask', onclick: ssAsk }, t('ask'));
	U.ss = h('section', { class: 'ss', 'aria-label': t('suggestions'), hidden: true }, U.ssList, U.ssArt, U.ssAsk);
	U.foot = h('div', { class: 'ft' },
		...[['card', t('cardOpen')], ['callback', t('cbOpen')], ['privacy', t('privacy')]].map(([k, label]) =>
			h('button', { type: 'button', class: 'lk', 'data-side': k, onclick: () => openSide(k) }, label)));
	U.card = buildCard();
	U.callback = buildCallback();
	U.privacy = buildPrivacy();
}

// Where the suggestions stand: above the composer, or under the question
// of the pre-chat or offline form.
function placeSelfService(mode, hasChat) {
	const show = !U.side && !hasChat && !S.closed && (ss.art || ssCount() > 0) &&
		(mode === 'chat' || mode === 'pre' || mode === 'offline');
	U.ss.hidden = !show;
	if (!show) return;
	if (mode === 'chat') {
		if (U.composer.previousSibling !== U.ss) U.composer.before(U.ss);
	} else {
		const q = (mode === 'pre' ? U.preBody : U.offBody).closest('.fld');
		if (q.nextSibling !== U.ss) q.after(U.ss);
	}
	U.ss.classList.toggle('full', mode === 'chat' && !!ss.art);
	if (mode === 'chat' && ss.art) U.log.hidden = U.typing.hidden = true;
	U.ssAsk.hidden = mode === 'offline';
}

/* ---- Drawing ------------------------------------------------------------------ */

const CSS = `
:host{all:initial}
*{box-sizing:border-box}
[hidden]{display:none!important}
.sr{position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}
button,input,textarea,select{font:inherit;color:inherit}
button{cursor:pointer}
:focus-visible{outline:3px solid #111;outline-offset:2px}
.l{position:fixed;z-index:2147483000;right:20px;bottom:20px;width:56px;height:56px;border:0;padding:0;
 border-radius:50%;background:var(--emma-c,#1f5fbf);box-shadow:0 2px 10px #0005;display:grid;place-items:center}
.l svg{width:28px;height:28px}
.badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;
 background:#c0262d;color:#fff;font:600 12px/20px system-ui,sans-serif}
.w,.inv{font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1b1b1f;
 -webkit-font-smoothing:antialiased}
.w{position:fixed;z-index:2147483001;right:20px;bottom:88px;width:380px;height:min(620px,calc(100vh - 108px));
 display:flex;flex-direction:column;background:#fff;border-radius:14px;box-shadow:0 10px 40px #0004;overflow:hidden}
.hd{display:flex;align-items:center;gap:10px;padding:12px 10px 12px 16px;background:var(--emma-c,#1f5fbf);color:#fff}
.hd .who{flex:1;min-width:0}
.hd h2{margin:0;font-size:16px;font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.hd p{margin:0;font-size:13px;opacity:.92}
.ib{border:0;background:transparent;color:inherit;border-radius:8px;padding:6px 8px;font-size:13px;line-height:1}
.ib:hover{background:#ffffff26}
.hd .x{font-size:22px;width:38px;height:38px}
.av{width:36px;height:36px;border-radius:50%;flex:none;display:grid;place-items:center;background:#ffffff33;
 color:#fff;font-weight:600;overflow:hidden}
.av img{width:100%;height:100%;object-fit:cover}
.bd{flex:1;display:flex;flex-direction:column;min-height:0;background:#f7f8fa}
.log{list-style:none;margin:0;padding:14px 12px;overflow-y:auto;flex:1;display:flex;flex-direction:column;gap:8px}
.m{max-width:82%;padding:8px 12px;border-radius:16px;white-space:pre-wrap;overflow-wrap:anywhere}
.m.visitor{align-self:flex-end;background:var(--emma-c,#1f5fbf);color:#fff;border-bottom-right-radius:4px}
.m.operator{align-self:flex-start;background:#fff;border:1px solid #dde1e6;border-bottom-left-radius:4px}
.m.system{align-self:center;max-width:100%;color:#555b66;font-size:13px;padding:2px 8px;text-align:center}
.m .by{display:block;font-size:12px;font-weight:600;color:#3b4350;margin-bottom:2px}
.m .meta{display:block;font-size:11px;margin-top:3px;opacity:.85;text-align:right}
.m.failed{background:#fdecec;color:#8a1c1c;border:1px solid #e7a1a1}
.greet{align-self:flex-start;color:#3b4350}
.typing{min-height:20px;margin:0;padding:0 14px 4px;font-size:13px;color:#555b66;font-style:italic}
.note{margin:0;padding:8px 14px;font-size:13px;background:#fff4d6;color:#5c4400}
.note.err{background:#fdecec;color:#8a1c1c}
form{margin:0}
.cm{display:flex;gap:8px;align-items:flex-end;padding:10px;border-top:1px solid #dde1e6;background:#fff}
.cm textarea{flex:1;resize:none;border:1px solid #b8bfc9;border-radius:10px;padding:8px 10px;min-height:40px;max-height:120px;
 background:#fff}
.send{border:0;border-radius:10px;background:var(--emma-c,#1f5fbf);color:#fff;height:40px;min-width:44px;padding:0 12px;font-weight:600}
.send:disabled{opacity:.5;cursor:default}
.panel{padding:16px;overflow-y:auto;display:flex;flex-direction:column;gap:12px;background:#fff;flex:1}
.panel.end{flex:none;border-top:1px solid #dde1e6;max-height:60%}
.panel p{margin:0}
.fld{display:flex;flex-direction:column;gap:4px}
.fld label{font-size:13px;font-weight:600;color:#3b4350}
.fld .opt{font-weight:400;color:#666d78}
.fld input,.fld textarea{border:1px solid #b8bfc9;border-radius:8px;padding:8px 10px;background:#fff;width:100%}
.fld textarea{resize:vertical;min-height:70px}
.chk{display:flex;gap:8px;align-items:flex-start;font-size:13px}
.chk input{margin-top:3px}
.btn{align-self:flex-start;border:0;border-radius:10px;background:var(--emma-c,#1f5fbf);color:#fff;padding:9px 16px;font-weight:600}
.btn.sec{background:#e9ecf0;color:#1b1b1f}
.errs{color:#a1181f;font-size:13px;margin:0}
.stars{border:0;margin:0;padding:0;display:flex;flex-direction:column;gap:6px}
.stars legend{font-weight:600;padding:0;margin-bottom:4px}
.stars .row{display:flex;gap:2px}
.stars label{position:relative;font-size:28px;line-height:1;color:#8a929e;cursor:pointer;padding:0 2px}
.stars input{position:absolute;inset:0;width:100%;height:100%;margin:0;opacity:0;cursor:pointer}
.stars label.on{color:#c98f00}
.stars label:has(input:focus-visible){outline:3px solid #111;outline-offset:1px;border-radius:4px}
.inv{position:fixed;z-index:2147483001;right:20px;bottom:88px;width:300px;max-width:calc(100vw - 40px);background:#fff;
 border-radius:14px;box-shadow:0 8px 30px #0004;padding:14px;display:flex;flex-direction:column;gap:10px}
.inv .top{display:flex;gap:10px;align-items:center}
.inv .av{background:var(--emma-c,#1f5fbf)}
.inv .from{flex:1;font-size:13px;font-weight:600;color:#3b4350;margin:0}
.inv .msg{margin:0;white-space:pre-wrap;overflow-wrap:anywhere}
.inv .x{color:#3b4350;font-size:20px;width:34px;height:34px}
.inv .x:hover{background:#eef0f3}
.inv.in{position:static;width:auto;max-width:none;box-shadow:none;border-radius:0;border-bottom:1px solid #dde1e6;animation:none}
.ft{display:flex;flex-wrap:wrap;justify-content:center;gap:0 12px;padding:4px 10px;border-top:1px solid #dde1e6;background:#fff}
.lk{border:0;background:none;padding:5px 2px;font-size:12px;color:#3b4350;text-decoration:underline;text-underline-offset:2px}
.lk[aria-current]{font-weight:700}
.ss{flex:none;max-height:55%;overflow-y:auto;padding:10px 12px;background:#fff;border-top:1px solid #dde1e6;
 display:flex;flex-direction:column;gap:8px}
.ss.full{flex:1;max-height:none}
.panel .ss{max-height:none;flex:none;border:1px solid #dde1e6;border-radius:10px}
.sshd{margin:0;font-size:13px;font-weight:600;color:#3b4350}
.arts,.prods{list-style:none;margin:6px 0 0;padding:0;display:flex;flex-direction:column;gap:6px}
.art{display:block;width:100%;text-align:left;border:1px solid #dde1e6;background:#f7f8fa;border-radius:10px;padding:8px 10px}
.art:hover,a.prod:hover{border-color:var(--emma-c,#1f5fbf)}
.art .q{display:block;font-weight:600}
.art .sn{display:block;font-size:13px;color:#555b66;margin-top:2px}
mark{background:#fff0a8;color:inherit;padding:0 1px;border-radius:2px}
.prod{display:flex;gap:10px;align-items:center;padding:6px 8px;border-radius:10px;color:inherit;text-decoration:none;
 border:1px solid #dde1e6}
.prod img{width:44px;height:44px;object-fit:cover;border-radius:6px;flex:none;background:#eef0f3}
.pi{display:flex;flex-direction:column;min-width:0}
.pn{font-weight:600;overflow:hidden;text-overflow:ellipsis}
.pp{font-size:13px;color:#3b4350}
.artv,.voted{display:flex;flex-direction:column;gap:8px}
.artv h3,.side h3{margin:0;font-size:16px;line-height:1.3}
.ans{overflow-wrap:anywhere}
.ans>*{margin:0 0 8px}
.ans img{max-width:100%;height:auto}
.ans pre{white-space:pre-wrap;background:#f3f4f6;padding:8px;border-radius:6px}
.ans a,.helpl{color:#1f4fa8}
.helpl{font-size:13px}
.vote p,.voted p{margin:0;font-weight:600}
.vote .row,.ask-del .row{display:flex;flex-wrap:wrap;gap:8px;margin-top:6px}
.backb{align-self:flex-start;color:#3b4350;padding:6px 8px 6px 0}
.backb:hover{background:#eef0f3}
.ask{align-self:stretch}
.sidehd{display:flex;flex-direction:column;gap:2px}
.fld-list{display:flex;flex-direction:column;gap:10px}
.hint{margin:0;font-size:12px;color:#555b66}
.two{display:flex;gap:10px}
.two .fld{flex:1;min-width:0}
.fld select{border:1px solid #b8bfc9;border-radius:8px;padding:8px 10px;background:#fff;width:100%}
.btn.danger{background:#b3261e}
.btn:disabled{opacity:.6;cursor:default}
@media (max-width:479.98px){
 .w{inset:0;width:auto;height:auto;border-radius:0}
 .w:not([hidden])~.l{display:none}
 .inv{right:12px;left:12px;width:auto;max-width:none}
}
@media (prefers-reduced-motion:no-preference){.inv,.w{animation:emma-in .16s ease-out}}
@keyframes emma-in{from{opacity:0;transform:translateY(8px)}}
`;

// h('div', {class: 'x'}, 'text', child) — text is always a text node
function h(tag, attrs, ...kids) {
	const el = d.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === false || v == null) continue;
		if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
		else el.setAttribute(k, v === true ? '' : v);
	}
	for (const k of kids) if (k != null && k !== false) el.append(k);
	return el;
}

let root; // shadow root
let host;
let U = {}; // elements
let unread = 0;
let notice = '';
let opTypingTimer = 0;
const nodes = new WeakMap(); // message -> li
let ids = 0;
const uid = (p) => `emma-${p}-${++ids}`;

const opName = () => (S.op && S.op.name) || t('team');

function avatar(op) {
	const el = h('span', { class: 'av', 'aria-hidden': 'true' });
	const name = (op && op.name) || '';
	let src = '';
	try {
		if (op && op.avatar) {
			const u = new URL(op.avatar, BASE);
			if (/^https?:$/.test(u.protocol)) src = u.href;
		}
	} catch { /* not a URL */ }
	if (src) el.append(h('img', { src, alt: '' }));
	else el.textContent = name ? name.trim().charAt(0).toUpperCase() : '';
	if (!src && !name) el.append(chatIcon(20));
	return el;
}

function chatIcon(size) {
	const ns = 'http://www.w3.org/2000/svg';
	const svg = d.createElementNS(ns, 'svg');
	svg.setAttribute('viewBox', '0 0 24 24');
	svg.setAttribute('width', size);
	svg.setAttribute('height', size);
	svg.setAttribute('fill', '#fff');
	svg.setAttribute('aria-hidden', 'true');
	const p = d.createElementNS(ns, 'path');
	p.setAttribute('d', 'M4 4h16v12H8l-4 4z');
	svg.append(p);
	return svg;
}

function build(givenHost) {
	host = givenHost || d.getElementById('emma-chat');
	if (!host) {
		host = h('emma-chat', { id: 'emma-chat', style: 'all:initial!important' });
		host.style.setProperty('--emma-c', cfg.color || (S.hello && S.hello.color) || '#1f5fbf');
		d.body.append(host);
	}
	if (!cfg.color && S.hello && S.hello.color) host.style.setProperty('--emma-c', S.hello.color);
	root = host.shadowRoot || host.attachShadow({ mode: 'open' });
	root.replaceChildren();
	const title = uid('title');
	const winId = uid('win');
	U.style = h('style', null, CSS);

	U.av = h('span');
	U.title = h('h2', { id: title });
	U.sub = h('p');
	U.end = h('button', { type: 'button', class: 'ib', onclick: endChat }, t('end'));
	U.close = h('button', { type: 'button', class: 'ib x', 'aria-label': t('minimise'), onclick: () => closeWindow() }, '×');
	const header = h('div', { class: 'hd' }, U.av, h('div', { class: 'who' }, U.title, U.sub), U.end, U.close);

	U.note = h('p', { class: 'note', role: 'status' });
	U.log = h('ol', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': t('messages') });
	U.greet = h('li', { class: 'm operator greet' }, (S.hello && S.hello.greeting) || t('greeting'));
	U.typing = h('p', { class: 'typing' });

	// Composer
	const mid = uid('msg');
	U.text = h('textarea', { id: mid, rows: '1', maxlength: String(MAX_BODY), autocomplete: 'off' });
	U.send = h('button', { type: 'submit', class: 'send', 'aria-label': t('send') }, sendIcon());
	U.composer = h('form', { class: 'cm', novalidate: true },
		h('label', { for: mid, class: 'sr' }, t('message')), U.text, U.send);
	U.composer.addEventListener('submit', (e) => {
		e.preventDefault();
		if (sendMessage(U.text.value)) {
			U.text.value = '';
			grow();
		}
		U.text.focus();
	});
	U.text.addEventListener('keydown', (e) => {
		if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
			e.preventDefault();
			U.composer.requestSubmit();
		}
	});
	U.text.addEventListener('input', () => {
		grow();
		typing(U.text.value.trim() !== '');
		ssInput(U.text);
	});

	U.pre = buildPrechat();
	U.offline = buildOffline();
	U.endPanel = buildEnd();
	buildSelfService();
	U.preBody.addEventListener('input', () => ssInput(U.preBody));
	U.offBody.addEventListener('input', () => ssInput(U.offBody));

	U.body = h('div', { class: 'bd' }, U.note, U.ssLive, U.log, U.typing, U.pre, U.offline, U.endPanel, U.ss, U.composer,
		U.card, U.callback, U.privacy);
	U.win = h('div', {
		class: 'w', id: winId, role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': title, lang: LANG, hidden: true,
	}, header, U.body, U.foot);
	U.win.addEventListener('keydown', trapKeys);

	U.inv = buildInvite();
	U.badge = h('span', { class: 'badge', 'aria-hidden': 'true', hidden: true });
	U.launcher = h('button', {
		type: 'button', class: 'l', 'aria-label': t('open'), 'aria-expanded': 'false', 'aria-controls': winId,
		onclick: () => (S.open ? closeWindow() : openWindow(true)),
	}, chatIcon(28), U.badge);
	root.append(U.style, U.win, U.inv, U.launcher);
	for (const m of S.m) add(m, true);
}

function sendIcon() {
	const ns = 'http://www.w3.org/2000/svg';
	const svg = d.createElementNS(ns, 'svg');
	svg.setAttribute('viewBox', '0 0 24 24');
	svg.setAttribute('width', '20');
	svg.setAttribute('height', '20');
	svg.setAttribute('fill', 'currentColor');
	svg.setAttribute('aria-hidden', 'true');
	const p = d.createElementNS(ns, 'path');
	p.setAttribute('d', 'M3 20l18-8L3 4v6l12 2-12 2z');
	svg.append(p);
	return svg;
}

function grow() {
	U.text.style.height = 'auto';
	U.text.style.height = Math.min(120, U.text.scrollHeight + 2) + 'px';
}

function field(label, input, optional) {
	const id = uid('f');
	input.id = id;
	return h('div', { class: 'fld' },
		h('label', { for: id }, label, optional ? h('span', { class: 'opt' }, ` (${t('optional')})`) : null), input);
}

function errorLine() {
	return h('p', { class: 'errs', role: 'alert' });
}

function buildPrechat() {
	U.preName = h('input', { type: 'text', autocomplete: 'name', maxlength: '200' });
	U.preEmail = h('input', { type: 'email', autocomplete: 'email', maxlength: '254' });
	U.preConsent = h('input', { type: 'checkbox' });
	U.preBody = h('textarea', { maxlength: String(MAX_BODY), rows: '3' });
	U.preErr = errorLine();
	U.preNameF = field(t('name'), U.preName, true);
	U.preEmailF = field(t('email'), U.preEmail, true);
	const cid = uid('c');
	U.preConsent.id = cid;
	U.preConsentF = h('div', { class: 'chk' }, U.preConsent, h('label', { for: cid }, t('consent')));
	U.preGreet = h('p', null, (S.hello && S.hello.greeting) || t('greeting'));
	const f = h('form', { class: 'panel', novalidate: true },
		U.preGreet, U.preNameF, U.preEmailF, field(t('question'), U.preBody), U.preConsentF, U.preErr,
		h('button', { type: 'submit', class: 'btn' }, t('startChat')));
	f.addEventListener('submit', (e) => {
		e.preventDefault();
		const p = (S.hello && S.hello.prechat) || {};
		const name = U.preName.value.trim();
		const email = U.preEmail.value.trim();
		const body = U.preBody.value.trim();
		let err = '';
		let bad = null;
		if (p.name === 'required' && !name) [err, bad] = [t('needName'), U.preName];
		else if (p.email === 'required' && !email) [err, bad] = [t('needEmail'), U.preEmail];
		else if (p.email && p.email !== 'off' && email && !okEmail(email)) [err, bad] = [t('badEmail'), U.preEmail];
		else if (!body) [err, bad] = [t('needBody'), U.preBody];
		else if (p.consent === 'required' && !U.preConsent.checked) [err, bad] = [t('needConsent'), U.preConsent];
		for (const x of [U.preName, U.preEmail, U.preBody, U.preConsent]) x.toggleAttribute('aria-invalid', x === bad);
		U.preErr.textContent = err;
		if (err) {
			bad.focus();
			return;
		}
		const pre = {};
		if (p.name && p.name !== 'off') pre.name = name;
		if (p.email && p.email !== 'off') pre.email = email;
		if (p.consent && p.consent !== 'off') pre.consent = U.preConsent.checked;
		U.preBody.value = '';
		startChat(pre, body);
		view();
		U.text.focus();
	});
	return f;
}

function buildOffline() {
	U.offName = h('input', { type: 'text', autocomplete: 'name', maxlength: '200' });
	U.offEmail = h('input', { type: 'email', autocomplete: 'email', required: true, 'aria-required': 'true', maxlength: '254' });
	U.offBody = h('textarea', { maxlength: String(MAX_BODY), rows: '4', required: true, 'aria-required': 'true' });
	U.offErr = errorLine();
	U.offForm = h('form', { class: 'panel', novalidate: true },
		h('p', null, t('offlineIntro')), field(t('name'), U.offName, true), field(t('email'), U.offEmail),
		field(t('message'), U.offBody), U.offErr, h('button', { type: 'submit', class: 'btn' }, t('leave')));
	U.offForm.addEventListener('submit', (e) => {
		e.preventDefault();
		const email = U.offEmail.value.trim();
		const body = U.offBody.value.trim();
		let err = '';
		let bad = null;
		if (!email) [err, bad] = [t('needEmail'), U.offEmail];
		else if (!okEmail(email)) [err, bad] = [t('badEmail'), U.offEmail];
		else if (!body) [err, bad] = [t('needBody'), U.offBody];
		for (const x of [U.offEmail, U.offBody]) x.toggleAttribute('aria-invalid', x === bad);
		U.offErr.textContent = err;
		if (err) {
			bad.focus();
			return;
		}
		sendOffline({ name: U.offName.value.trim(), email, body });
	});
	U.offDoneText = h('p', { role: 'status' });
	U.offDone = h('div', { class: 'panel' }, U.offDoneText);
	return h('div', { class: 'bd' }, U.offForm, U.offDone);
}

function buildEnd() {
	const name = uid('r');
	U.stars = [];
	const row = h('div', { class: 'row' });
	for (let n = 1; n <= 5; n++) {
		// The input covers its star, so a click on the star is a click on it.
		const input = h('input', { type: 'radio', name, value: String(n) });
		const label = h('label', { title: t('stars', { n }) }, input, h('span', { 'aria-hidden': 'true' }, '★'),
			h('span', { class: 'sr' }, t('stars', { n })));
		input.addEventListener('change', paintStars);
		U.stars.push([input, label]);
		row.append(label);
	}
	U.rateComment = h('textarea', { rows: '2', maxlength: '1000' });
	U.rateErr = errorLine();
	U.rateForm = h('form', { novalidate: true, class: 'fld' },
		h('fieldset', { class: 'stars' }, h('legend', null, t('rate')), row),
		field(t('comment'), U.rateComment), U.rateErr, h('button', { type: 'submit', class: 'btn' }, t('rateSend')));
	U.rateForm.addEventListener('submit', (e) => {
		e.preventDefault();
		const on = U.stars.find(([i]) => i.checked);
		if (!on) {
			U.rateErr.textContent = t('needRating');
			U.stars[0][0].focus();
			return;
		}
		U.rateErr.textContent = '';
		const o = { type: 'rate', rating: +on[0].value };
		const c = U.rateComment.value.trim();
		if (c) o.comment = c;
		request(o);
	});
	U.rated = h('p', { role: 'status' }, t('rated'));

	U.trEmail = h('input', { type: 'email', autocomplete: 'email', maxlength: '254' });
	U.trErr = errorLine();
	U.trForm = h('form', { novalidate: true, class: 'fld' }, field(t('email'), U.trEmail), U.trErr,
		h('button', { type: 'submit', class: 'btn sec' }, t('transcript')));
	U.trForm.addEventListener('submit', (e) => {
		e.preventDefault();
		const email = U.trEmail.value.trim();
		if (!okEmail(email)) {
			U.trErr.textContent = email ? t('badEmail') : t('needEmail');
			U.trEmail.focus();
			return;
		}
		U.trErr.textContent = '';
		request({ type: 'transcript', email });
	});
	U.trDone = h('p', { role: 'status' });
	U.ended = h('p', null, t('ended'));
	return h('div', { class: 'panel end' }, U.ended, U.rateForm, U.rated, U.trForm, U.trDone,
		h('button', { type: 'button', class: 'btn sec', onclick: () => newChat() }, t('newChat')));
}

function paintStars() {
	const v = +(U.stars.find(([i]) => i.checked)?.[0].value || 0);
	for (const [i, l] of U.stars) l.classList.toggle('on', +i.value <= v);
}

function buildInvite() {
	const top = h('div', { class: 'top' });
	U.invTop = top;
	U.invMsg = h('p', { class: 'msg' });
	return h('section', { class: 'inv', 'aria-label': t('invitation'), 'aria-live': 'polite', lang: LANG, hidden: true },
		top, U.invMsg,
		h('button', { type: 'button', class: 'btn', onclick: () => answerInvite(true) }, t('reply')));
}

function resetLog() {
	if (U.log) U.log.replaceChildren();
}

function system(text) {
	add({ s: 0, c: '', a: 'system', b: text, t: Date.now(), st: 'sent' });
}

// Appends a message to S.m (unless redrawing) and to the list.
function add(m, redraw) {
	if (!redraw) {
		S.m.push(m);
		if (S.m.length > MAX_KEPT) {
			// Drop the oldest delivered ones; remember up to where seqs were seen.
			let drop = S.m.length - MAX_KEPT;
			S.m = S.m.filter((x) => {
				if (drop > 0 && x.st !== 'sending') {
					drop--;
					if (x.s > S.floor) S.floor = x.s;
					const li = nodes.get(x);
					if (li) li.remove();
					return false;
				}
				return true;
			});
		}
	}
	if (!U.log) return;
	const near = U.log.scrollHeight - U.log.scrollTop - U.log.clientHeight < 80;
	const li = h('li');
	nodes.set(m, li);
	draw(m);
	U.log.append(li);
	if (near || m.a === 'visitor' || redraw) U.log.scrollTop = U.log.scrollHeight;
}

const timeFmt = new Intl.DateTimeFormat(LANG, { hour: '2-digit', minute: '2-digit' });

function draw(m) {
	const li = nodes.get(m);
	if (!li) return;
	li.className = `m ${m.a}${m.st === 'failed' ? ' failed' : ''}`;
	const kids = [];
	if (m.a === 'operator') kids.push(h('span', { class: 'by' }, (m.o && m.o.name) || opName()));
	else if (m.a === 'visitor') kids.push(h('span', { class: 'sr' }, `${t('you')}: `));
	kids.push(h('span', { class: 'tx' }, m.b));
	if (m.a !== 'system') {
		const meta = h('span', { class: 'meta' }, timeFmt.format(m.t));
		if (m.a === 'visitor') {
			const st = m.st === 'sending' ? t('sending') : m.st === 'failed' ? t('failed') : t('sent');
			meta.dataset.state = m.st;
			meta.append(` · ${st}`, h('span', { 'aria-hidden': 'true' }, m.st === 'sent' ? ' ✓' : m.st === 'sending' ? ' …' : ''));
			if (m.st === 'failed' && m.err) meta.append(` (${m.err})`);
		}
		kids.push(meta);
	}
	li.replaceChildren(...kids);
}

function opTyping(on) {
	clearTimeout(opTypingTimer);
	if (on) opTypingTimer = setTimeout(() => opTyping(false), OP_TYPING_MS);
	if (U.typing) U.typing.textContent = on ? t('typing', { name: opName() }) : '';
}

// Which panel shows, header texts, launcher badge
function view() {
	if (!U.win) return;
	const focused = root.activeElement;
	const hello = S.hello;
	const hasChat = !!S.conv || S.m.some((m) => m.a !== 'system') || !!S.start;
	const pre = (hello && hello.prechat) || {};
	const asks = ['name', 'email', 'consent'].some((k) => pre[k] === 'optional' || pre[k] === 'required');
	let mode;
	if (S.closed) mode = 'end';
	else if (hasChat) mode = 'chat';
	else if (S.offlineDone || S.offline) mode = 'offline-done';
	else if (!hello) mode = 'connecting';
	else if (!hello.available) mode = 'offline';
	else if (asks) mode = 'pre';
	else mode = 'chat';
	U.mode = mode;

	U.win.hidden = !S.open;
	U.launcher.setAttribute('aria-expanded', String(S.open));
	if (S.open) unread = 0;
	U.badge.hidden = !unread;
	U.badge.textContent = String(unread);
	U.launcher.setAttribute('aria-label', unread ? t('openUnread', { n: unread }) : t('open'));

	// Header
	const op = S.op && (S.status === 'open' || S.m.some((m) => m.a === 'operator')) ? S.op : null;
	const avKey = JSON.stringify(op);
	if (avKey !== U.avKey) {
		U.avKey = avKey;
		U.av.replaceWith((U.av = avatar(op)));
	}
	U.title.textContent = op && op.name ? op.name : t('title');
	let sub;
	if (!up && everUp) sub = t('connecting');
	else if (mode === 'connecting') sub = t('connecting');
	else if (mode === 'offline' || mode === 'offline-done') sub = t('offline');
	else if (mode === 'chat' && S.conv && S.status === 'pending') sub = t('waiting');
	else if (mode === 'chat' && S.start && !S.conv) sub = t('waiting');
	else sub = hello && !hello.available && !S.conv ? t('offline') : t('online');
	U.sub.textContent = sub;
	U.end.hidden = !(S.conv && !S.closed);

	// Connection and errors
	const lost = !up && everUp && mode !== 'offline-done';
	U.note.textContent = lost ? t('reconnecting') : notice;
	U.note.className = notice && !lost ? 'note err' : 'note';
	U.note.hidden = !U.note.textContent;

	const chatLike = mode === 'chat' || mode === 'end';
	U.log.hidden = !chatLike;
	U.typing.hidden = !chatLike;
	if (chatLike && !S.m.some((m) => m.a !== 'system') && !S.closed) {
		if (!U.greet.isConnected) U.log.prepend(U.greet);
	} else U.greet.remove();
	U.composer.hidden = mode !== 'chat';
	U.pre.hidden = mode !== 'pre';
	if (mode === 'pre') {
		U.preNameF.hidden = !pre.name || pre.name === 'off';
		U.preEmailF.hidden = !pre.email || pre.email === 'off';
		U.preConsentF.hidden = !pre.consent || pre.consent === 'off';
		U.preNameF.querySelector('.opt').hidden = pre.name === 'required';
		U.preEmailF.querySelector('.opt').hidden = pre.email === 'required';
		U.preName.toggleAttribute('required', pre.name === 'required');
		U.preEmail.toggleAttribute('required', pre.email === 'required');
		U.preConsent.toggleAttribute('required', pre.consent === 'required');
		if (S.pre) {
			if (S.pre.name && !U.preName.value) U.preName.value = S.pre.name;
			if (S.pre.email && !U.preEmail.value) U.preEmail.value = S.pre.email;
		}
	}
	U.offline.hidden = mode !== 'offline' && mode !== 'offline-done';
	U.offForm.hidden = mode !== 'offline';
	U.offDone.hidden = mode !== 'offline-done';
	// Thanks only once stored; until the ack it waits in the outbox.
	U.offDoneText.textContent = S.offlineDone ? t('offlineDone') : `${t('sending')}…`;
	if (mode === 'offline' && S.pre) {
		if (S.pre.email && !U.offEmail.value) U.offEmail.value = S.pre.email;
		if (S.pre.name && !U.offName.value) U.offName.value = S.pre.name;
	}
	U.endPanel.hidden = mode !== 'end';
	if (mode === 'end') {
		U.rateForm.hidden = S.rated;
		U.rated.hidden = !S.rated;
		U.trForm.hidden = !!S.transcript;
		U.trDone.hidden = !S.transcript;
		U.trDone.textContent = S.transcript ? t('transcriptDone', { email: S.transcript }) : '';
		if (!U.trEmail.value && S.pre && S.pre.email) U.trEmail.value = S.pre.email;
	}

	placeSelfService(mode, hasChat);
	// A side panel (business card, call-me-back, privacy) stands in for the rest.
	if (U.side) for (const el of [U.log, U.typing, U.pre, U.offline, U.endPanel, U.composer, U.ss]) el.hidden = true;
	for (const [k, el] of [['card', U.card], ['callback', U.callback], ['privacy', U.privacy]]) el.hidden = U.side !== k;
	for (const b of U.foot.children) b.toggleAttribute('aria-current', b.dataset.side === U.side);

	// Invitation: a bubble by the launcher, or at the top of the open window
	U.inv.hidden = !S.inv;
	U.inv.classList.toggle('in', S.open);
	if (S.open && U.inv.parentNode !== U.body) U.body.prepend(U.inv);
	else if (!S.open && U.inv.parentNode !== root) root.insertBefore(U.inv, U.launcher);
	if (S.inv && U.invKey !== S.inv.id) {
		U.invKey = S.inv.id;
		const iop = S.inv.operator;
		U.invTop.replaceChildren(avatar(iop), h('p', { class: 'from' }, iop && iop.name ? t('from', { name: iop.name }) : t('team')),
			h('button', { type: 'button', class: 'ib x', 'aria-label': t('dismiss'), onclick: () => answerInvite(false) }, '×'));
		U.invMsg.textContent = S.inv.message;
	}
	// Tell the shop the invitation was seen (its rule statistics count it).
	if (S.inv && !S.inv.seen && tx({ type: 'invite_shown', invitation: S.inv.id })) {
		S.inv.seen = 1;
		save();
	}
	if (focusPending && mode !== 'connecting' && S.open) {
		focusPending = false;
		focusFirst();
	} else if (S.open && focused && U.win.contains(focused) && !focused.getClientRects().length) {
		// What had the focus went away (a form was sent): keep it in the window.
		focusFirst();
	}
}

let focusPending = false;

/* ---- Window, focus, keyboard ---------------------------------------------- */

function openWindow(focus) {
	S.open = true;
	notice = '';
	save();
	view();
	reconnectNow();
	if (focus) {
		if (U.mode === 'connecting') focusPending = true;
		focusFirst();
	}
}

function closeWindow() {
	S.open = false;
	save();
	view();
	U.launcher.focus();
}

function focusables() {
	return [...U.win.querySelectorAll('button,input,textarea,select,a[href],[tabindex]:not([tabindex="-1"])')]
		.filter((el) => !el.disabled && el.getClientRects().length);
}

function focusFirst() {
	requestAnimationFrame(() => {
		let el;
		if (U.side) el = { card: U.cdForm.hidden ? U.cdDone : U.cdName, callback: U.cbForm.hidden ? U.cbDone : U.cbPhone, privacy: U.privacy.querySelector('h3') }[U.side];
		else if (U.mode === 'chat') el = U.text;
		else if (U.mode === 'pre') el = [U.preName, U.preEmail, U.preBody].find((x) => x.getClientRects().length);
		else if (U.mode === 'offline') el = U.offEmail.value ? U.offBody : U.offEmail;
		if (!el || !el.getClientRects().length) el = focusables()[0];
		if (el) el.focus();
	});
}

function trapKeys(e) {
	if (e.key === 'Escape') {
		e.preventDefault();
		e.stopPropagation();
		if (U.side) closeSide();
		else if (ss.art && U.ss.contains(root.activeElement)) ssBack();
		else closeWindow();
		return;
	}
	if (e.key !== 'Tab') return;
	const f = focusables();
	if (!f.length) return;
	const active = root.activeElement;
	const first = f[0];
	const last = f[f.length - 1];
	if (e.shiftKey && (active === first || !f.includes(active))) {
		e.preventDefault();
		last.focus();
	} else if (!e.shiftKey && (active === last || !f.includes(active))) {
		e.preventDefault();
		first.focus();
	}
}

/* ---- Entry point -------------------------------------------------------------- */

function takeInvite(j) {
	if (j.vid && !(E._vid && E._vid())) S.vid = String(j.vid);
	const i = j.invite || {};
	onInvite({ invitation: i.invitation, message: i.message, operator: i.operator });
	save();
	view();
}

// x: 1 = open the window; {vid, invite} = an invitation from /t; else restore
function start(givenHost, x) {
	if (!givenHost && !U.win && d.readyState === 'loading') {
		// emma.js draws its launcher at DOMContentLoaded: take that one, do not add a second.
		d.addEventListener('DOMContentLoaded', () => start(d.getElementById('emma-chat'), x));
		return;
	}
	if (!U.win) {
		build(givenHost);
		w.addEventListener('online', reconnectNow);
		d.addEventListener('visibilitychange', () => {
			if (d.visibilityState === 'visible') reconnectNow();
		});
		// Another tab of the same page session cannot share sessionStorage,
		// but a reload or bfcache return should show the current state.
		w.addEventListener('pageshow', (e) => {
			if (e.persisted) reconnectNow();
		});
	}
	if (x === 1) openWindow(true);
	else if (x && typeof x === 'object' && x.invite) takeInvite(x);
	view();
	connect();
}

if (w.emma) {
	w.emma._c = start;
	w.emma._x = onReset;
}
