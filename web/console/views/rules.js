// Invitation rules (#/rules): the list with an on/off switch, how often each
// rule's invitation was shown and accepted and the chats and orders that
// followed (GET /rules/stats), and an editor with a form field for every
// condition of docs/chat.md. The server checks a rule; a 422 names the field
// by its path (conditions.url.regex) and the message appears beside it.
import { h, tx } from '/console/dom.js';
import { i18n } from '/console/i18n.js';
import { ApiError } from '/console/api.js';
import {
  announce, banner, dataTable, errorMessage, field, loadState, pageHeader, setFieldError, setMessage,
} from '/console/ui.js';
import { fmtNumber } from '/console/views/live.js';

// Number conditions and the bounds each takes.
const NUMBER_CONDS = [
  ['time_on_page_s', ['gte']], ['time_on_site_s', ['gte']], ['idle_s', ['gte']],
  ['pages', ['gte', 'lte']], ['visits', ['gte', 'lte']], ['cart_total', ['gte', 'lte']],
];
const PATTERN_CONDS = ['url', 'referrer'];
const TEXT_CONDS = ['utm_source', 'utm_campaign', 'language'];

const rulesOf = (res) => (Array.isArray(res?.rules) ? res.rules : []);

/** The stats of one rule, whatever the list calls its id. */
function statsIndex(res) {
  const list = Array.isArray(res?.rules) ? res.rules : Array.isArray(res?.stats) ? res.stats : [];
  const map = new Map();
  for (const s of list) {
    const id = s?.rule && typeof s.rule === 'object' ? s.rule.id : s?.rule ?? s?.rule_id ?? s?.id;
    if (id !== undefined && id !== null) map.set(String(id), s);
  }
  return map;
}

const num = (x) => (Number.isFinite(Number(x)) ? Number(x) : 0);

/**
 * The share of shown invitations that were accepted: the server's figure when
 * it sends one (a fraction), else accepted of those the visitor saw.
 */
export function acceptance(s) {
  if (!s) return null;
  if (s.acceptance_rate !== undefined && s.acceptance_rate !== null && Number.isFinite(Number(s.acceptance_rate)))
    return Number(s.acceptance_rate);
  const seen = Math.max(num(s.shown), num(s.accepted) + num(s.dismissed));
  return seen ? num(s.accepted) / seen : null;
}

export function renderRules({ api, signal }) {
  const listArea = h('div', { class: 'list-area' });
  const rowError = banner();
  let departments = [];
  let table = null;
  let stats = new Map();
  let manual = null; // stats of the invitations operators sent by hand
  let days = 30;
  const editor = ruleEditor();
  const addBtn = h('button', { type: 'button', class: 'btn primary rules-new', t: 'rules.new' });
  addBtn.addEventListener('click', () => editor.open(null));

  const page = h('section', { class: 'page page-wide rules-page' },
    pageHeader('rules.title', 'rules.intro'),
    h('div', { class: 'form-actions rules-toolbar' }, addBtn),
    editor.el,
    h('h2', { class: 'section-title', t: 'rules.list' }), listArea);

  function statCell(rule, key) {
    const s = stats.get(String(rule.id));
    return s ? fmtNumber(num(s[key])) : '–';
  }

  function rateCell(rule) {
    const r = acceptance(stats.get(String(rule.id)));
    if (r === null) return h('span', { class: 'muted' }, '–');
    return h('span', { class: 'rules-rate' }, `${fmtNumber(r * 100, 1)} %`);
  }

  function enabledCell(rule) {
    const box = h('input', { type: 'checkbox', class: 'rules-enabled', checked: !!rule.enabled });
    i18n.attr(box, 'aria-label', 'rules.enabled_named', { name: rule.name });
    box.addEventListener('change', async () => {
      setMessage(rowError, null);
      box.disabled = true;
      try {
        const res = await api.patch(`/rules/${encodeURIComponent(rule.id)}`, { enabled: box.checked });
        Object.assign(rule, res?.rule || { enabled: box.checked });
        announce(rule.enabled ? 'rules.turned_on' : 'rules.turned_off', { name: rule.name });
      } catch (e) {
        box.checked = !!rule.enabled;
        setMessage(rowError, errorMessage(e));
      } finally {
        box.disabled = false;
      }
    });
    return h('label', { class: 'switch' }, box, h('span', { class: 'switch-text', t: 'rules.enabled' }));
  }

  function actionsCell(rule) {
    const edit = h('button', { type: 'button', class: 'btn small', t: 'rules.edit' });
    i18n.attr(edit, 'aria-label', 'rules.edit_named', { name: rule.name });
    edit.addEventListener('click', () => editor.open(rule));
    const del = h('button', { type: 'button', class: 'btn small ghost', t: 'rules.delete' });
    i18n.attr(del, 'aria-label', 'rules.delete_named', { name: rule.name });
    const wrap = h('span', { class: 'confirm' }, edit, del);
    del.addEventListener('click', () => {
      const yes = h('button', { type: 'button', class: 'btn small danger', t: 'rules.delete_confirm' });
      const no = h('button', { type: 'button', class: 'btn small', t: 'common.cancel' });
      wrap.replaceChildren(yes, no);
      yes.focus();
      no.addEventListener('click', () => { wrap.replaceChildren(edit, del); del.focus(); });
      yes.addEventListener('click', async () => {
        yes.disabled = true;
        try {
          await api.del(`/rules/${encodeURIComponent(rule.id)}`);
          wrap.closest('tr')?.remove();
          announce('rules.deleted', { name: rule.name });
        } catch (e) {
          setMessage(rowError, errorMessage(e));
          wrap.replaceChildren(edit, del);
        }
      });
    });
    return wrap;
  }

  const columns = [
    { label: 'rules.col.name', cell: (r) => h('div', { class: 'rules-name' },
      h('span', { class: 'rules-title' }, String(r.name ?? '')),
      h('span', { class: 'rules-message muted' }, String(r.message ?? ''))) },
    { label: 'rules.col.site', cell: (r) => String(r.site ?? '') },
    { label: 'rules.col.priority', cell: (r) => String(r.priority ?? 0), class: 'num' },
    { label: 'rules.col.enabled', cell: enabledCell },
    { label: 'rules.col.shown', cell: (r) => statCell(r, 'shown'), class: 'num rules-shown' },
    { label: 'rules.col.accepted', cell: (r) => statCell(r, 'accepted'), class: 'num rules-accepted' },
    { label: 'rules.col.rate', cell: rateCell, class: 'num rules-rate-col' },
    { label: 'rules.col.chats', cell: (r) => statCell(r, 'chats'), class: 'num rules-chats' },
    { label: 'rules.col.orders', cell: (r) => statCell(r, 'orders'), class: 'num rules-orders' },
    { label: 'rules.col.actions', cell: actionsCell },
  ];

  function showList(rules) {
    rules.sort((a, b) => num(b.priority) - num(a.priority) || String(a.name).localeCompare(String(b.name)));
    if (!rules.length) {
      table = null;
      listArea.replaceChildren(rowError, h('div', { class: 'empty' },
        h('p', { class: 'empty-title', t: 'rules.none' }), h('p', { class: 'muted', t: 'rules.none_hint' })));
      return;
    }
    table = dataTable(columns, rules, { captionKey: 'rules.list', rowAttrs: (r) => ({ 'data-id': String(r.id), class: r.enabled ? null : 'row-off' }) });
    listArea.replaceChildren(rowError, table.el, statsNote());
  }

  // The period of the figures and the invitations sent by hand, under the table.
  function statsNote() {
    const r = acceptance(manual);
    return h('p', { class: 'hint rules-stats-note' },
      tx('rules.stats_period', { n: days }),
      manual && num(manual.offered) ? h('span', null, ' ', tx('rules.manual_line', {
        offered: fmtNumber(num(manual.offered)), accepted: fmtNumber(num(manual.accepted)),
        rate: r === null ? '–' : `${fmtNumber(r * 100, 1)} %`, chats: fmtNumber(num(manual.chats)),
      })) : null);
  }

  async function reload() {
    const [res, st, deps] = await Promise.all([
      api.get('/rules', { signal }),
      api.get('/rules/stats', { signal }).catch((e) => { if (e?.name === 'AbortError') throw e; return null; }),
      api.get('/departments', { signal }).catch((e) => { if (e?.name === 'AbortError') throw e; return null; }),
    ]);
    stats = statsIndex(st);
    manual = st?.manual || null;
    days = Number(st?.days) || 30;
    departments = Array.isArray(deps?.departments) ? deps.departments : [];
    editor.setDepartments(departments);
    showList(rulesOf(res));
  }
  loadState(listArea, reload);

  // ---- the editor ----------------------------------------------------------------------

  function ruleEditor() {
    const err = banner();
    const title = h('h2', { class: 'card-title', id: 'rule-editor-title' });
    const name = h('input', { name: 'name', 'data-path': 'name', required: true, maxlength: 100, autocomplete: 'off' });
    const site = h('input', { name: 'site', 'data-path': 'site', required: true, maxlength: 64, autocomplete: 'off', spellcheck: 'false', value: 'default' });
    const priority = h('input', { name: 'priority', 'data-path': 'priority', type: 'number', step: 1, min: -1000, max: 1000, value: '0', inputmode: 'numeric' });
    const enabled = h('input', { type: 'checkbox', name: 'enabled', 'data-path': 'enabled', checked: true, id: 'rule-enabled' });
    const message = h('textarea', { name: 'message', 'data-path': 'message', required: true, rows: 3, maxlength: 1000 });
    const department = h('select', { name: 'department', 'data-path': 'department' });

    const c = {}; // condition controls by path
    const numInput = (path) => {
      c[path] = h('input', { name: path, 'data-path': path, type: 'number', min: 0, step: path.includes('cart_total') ? 'any' : 1, inputmode: 'decimal', class: 'rules-num' });
      return c[path];
    };
    const numberGroups = NUMBER_CONDS.map(([key, bounds]) => h('fieldset', { class: 'rules-cond', 'data-path': `conditions.${key}` },
      h('legend', { t: `rules.cond.${key}` }),
      h('div', { class: 'rules-cond-row' }, bounds.map((b) => field(`rules.${b}`, numInput(`conditions.${key}.${b}`)))),
      h('p', { class: 'field-error rules-cond-error', hidden: true })));
    const patternGroups = PATTERN_CONDS.map((key) => {
      const mode = h('select', { name: `conditions.${key}.mode`, 'data-path': `conditions.${key}.mode`, class: 'compact' },
        h('option', { value: 'glob', t: 'rules.glob' }), h('option', { value: 'regex', t: 'rules.regex' }));
      i18n.attr(mode, 'aria-label', 'rules.match_kind');
      const pattern = h('input', { name: `conditions.${key}.pattern`, 'data-path': `conditions.${key}`, spellcheck: 'false', autocomplete: 'off', maxlength: 500 });
      i18n.attr(pattern, 'placeholder', key === 'url' ? 'rules.url_example' : 'rules.referrer_example');
      c[`conditions.${key}.mode`] = mode;
      c[`conditions.${key}`] = pattern;
      return h('fieldset', { class: 'rules-cond', 'data-path': `conditions.${key}` },
        h('legend', { t: `rules.cond.${key}` }),
        h('div', { class: 'rules-cond-row' }, mode, field('rules.pattern', pattern, key === 'url' ? 'rules.pattern_hint' : null)));
    });
    const textGroups = TEXT_CONDS.map((key) => {
      c[`conditions.${key}`] = h('input', { name: `conditions.${key}`, 'data-path': `conditions.${key}`, spellcheck: 'false', autocomplete: 'off', maxlength: 200 });
      return field(`rules.cond.${key}`, c[`conditions.${key}`], key === 'language' ? 'rules.language_hint' : null);
    });
    c['conditions.returning'] = h('select', { name: 'conditions.returning', 'data-path': 'conditions.returning' },
      h('option', { value: '', t: 'rules.any' }), h('option', { value: 'true', t: 'rules.returning_yes' }), h('option', { value: 'false', t: 'rules.returning_no' }));
    c['conditions.exit_intent'] = h('input', { type: 'checkbox', name: 'conditions.exit_intent', 'data-path': 'conditions.exit_intent', id: 'rule-exit' });
    c['conditions.event.name'] = h('input', { name: 'conditions.event.name', 'data-path': 'conditions.event.name', spellcheck: 'false', autocomplete: 'off', maxlength: 100 });
    c['conditions.event.count'] = h('input', { name: 'conditions.event.count', 'data-path': 'conditions.event.count', type: 'number', min: 1, step: 1, inputmode: 'numeric' });
    c['conditions.event.within_s'] = h('input', { name: 'conditions.event.within_s', 'data-path': 'conditions.event.within_s', type: 'number', min: 1, step: 1, inputmode: 'numeric' });
    const condError = h('p', { class: 'form-error rules-cond-banner', role: 'alert', hidden: true });

    const messageField = field('rules.message', message, 'rules.message_hint');
    messageField.classList.add('rules-message-field');
    const submit = h('button', { type: 'submit', class: 'btn primary', t: 'rules.save' });
    const cancel = h('button', { type: 'button', class: 'btn', t: 'common.cancel' });
    const form = h('form', { class: 'card rules-editor', novalidate: true, 'aria-labelledby': 'rule-editor-title', hidden: true },
      title,
      h('div', { class: 'form-grid' },
        field('rules.name', name),
        field('rules.site', site, 'rules.site_hint'),
        field('rules.priority', priority, 'rules.priority_hint'),
        field('rules.department', department),
        messageField,
        h('label', { class: 'check', for: 'rule-enabled' }, enabled, tx('rules.enabled'))),
      h('fieldset', { class: 'rules-conds', 'data-path': 'conditions' },
        h('legend', { t: 'rules.conditions' }),
        h('p', { class: 'hint', t: 'rules.conditions_hint' }),
        condError,
        h('div', { class: 'rules-cond-grid' },
          numberGroups, patternGroups, textGroups,
          field('rules.cond.returning', c['conditions.returning']),
          h('label', { class: 'check rules-exit', for: 'rule-exit' }, c['conditions.exit_intent'], tx('rules.cond.exit_intent')),
          h('fieldset', { class: 'rules-cond rules-event', 'data-path': 'conditions.event' },
            h('legend', { t: 'rules.cond.event' }),
            h('div', { class: 'rules-cond-row' },
              field('rules.event_name', c['conditions.event.name']),
              field('rules.event_count', c['conditions.event.count']),
              field('rules.event_within', c['conditions.event.within_s']))))),
      err,
      h('div', { class: 'form-actions' }, submit, cancel));

    let editing = null;

    function clearErrors() {
      for (const el of form.querySelectorAll('[data-path]')) if ('value' in el && el.tagName !== 'FIELDSET') setFieldError(el, null);
      setMessage(err, null);
      setMessage(condError, null);
    }

    function fill(rule) {
      const r = rule || {};
      const cond = r.conditions && typeof r.conditions === 'object' ? r.conditions : {};
      name.value = r.name ?? '';
      site.value = r.site ?? 'default';
      priority.value = String(r.priority ?? 0);
      enabled.checked = rule ? !!r.enabled : true;
      message.value = r.message ?? '';
      department.value = r.department ? String(r.department?.id ?? r.department) : '';
      for (const [key, bounds] of NUMBER_CONDS) {
        for (const b of bounds) c[`conditions.${key}.${b}`].value = cond[key]?.[b] ?? '';
      }
      for (const key of PATTERN_CONDS) {
        const v = cond[key];
        const mode = v && typeof v === 'object' && 'regex' in v ? 'regex' : 'glob';
        c[`conditions.${key}.mode`].value = mode;
        c[`conditions.${key}`].value = v && typeof v === 'object' ? (v[mode] ?? '') : typeof v === 'string' ? v : '';
      }
      for (const key of TEXT_CONDS) c[`conditions.${key}`].value = cond[key] ?? '';
      c['conditions.returning'].value = cond.returning === true ? 'true' : cond.returning === false ? 'false' : '';
      c['conditions.exit_intent'].checked = cond.exit_intent === true;
      c['conditions.event.name'].value = cond.event?.name ?? '';
      c['conditions.event.count'].value = cond.event?.count ?? '';
      c['conditions.event.within_s'].value = cond.event?.within_s ?? '';
    }

    // The form as the API's rule object; empty fields are conditions not used.
    function collect() {
      const conditions = {};
      const n = (el) => (el.value.trim() === '' ? null : Number(el.value));
      for (const [key, bounds] of NUMBER_CONDS) {
        const o = {};
        for (const b of bounds) {
          const v = n(c[`conditions.${key}.${b}`]);
          if (v !== null) o[b] = v;
        }
        if (Object.keys(o).length) conditions[key] = o;
      }
      for (const key of PATTERN_CONDS) {
        const v = c[`conditions.${key}`].value.trim();
        if (v) conditions[key] = { [c[`conditions.${key}.mode`].value]: v };
      }
      for (const key of TEXT_CONDS) {
        const v = c[`conditions.${key}`].value.trim();
        if (v) conditions[key] = v;
      }
      if (c['conditions.returning'].value) conditions.returning = c['conditions.returning'].value === 'true';
      if (c['conditions.exit_intent'].checked) conditions.exit_intent = true;
      const ev = c['conditions.event.name'].value.trim();
      if (ev) {
        conditions.event = { name: ev };
        const count = n(c['conditions.event.count']);
        const within = n(c['conditions.event.within_s']);
        if (count !== null) conditions.event.count = count;
        if (within !== null) conditions.event.within_s = within;
      }
      const body = {
        name: name.value.trim(), site: site.value.trim(), enabled: enabled.checked,
        priority: priority.value.trim() === '' ? 0 : Number(priority.value), message: message.value.trim(),
        department: department.value || null, conditions,
      };
      return body;
    }

    // Local checks that need no server: required fields, numbers, a regex that JS can read.
    function check() {
      let first = null;
      const bad = (el, msg) => { setFieldError(el, msg); if (!first) first = el; };
      if (!name.value.trim()) bad(name, { key: 'form.required' });
      if (!site.value.trim()) bad(site, { key: 'form.required' });
      if (!message.value.trim()) bad(message, { key: 'form.required' });
      for (const el of form.querySelectorAll('input[type="number"]')) {
        if (el.validity.badInput || el.validity.rangeUnderflow || el.validity.stepMismatch) bad(el, { key: 'rules.bad_number' });
      }
      const evName = c['conditions.event.name'].value.trim();
      if (!evName && (c['conditions.event.count'].value || c['conditions.event.within_s'].value)) bad(c['conditions.event.name'], { key: 'form.required' });
      first?.focus();
      return !first;
    }

    // A 422's field path (conditions.url.regex, conditions/url or conditions[url]) → the control.
    function controlFor(path) {
      let p = String(path || '').replace(/^\/+/, '').replace(/\[(\w+)\]/g, '.$1').replace(/\//g, '.');
      while (p) {
        // A control before the group (fieldset) that holds it.
        const all = [...form.querySelectorAll(`[data-path="${CSS.escape(p)}"]`)];
        const el = all.find((x) => x.tagName !== 'FIELDSET') || all[0];
        if (el) return el;
        p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '';
      }
      return null;
    }

    function showError(e) {
      const msg = errorMessage(e);
      const target = e instanceof ApiError && e.field ? controlFor(e.field) : null;
      if (!target) { setMessage(err, msg); return; }
      if (target.tagName === 'FIELDSET') {
        const slot = target.querySelector(':scope > .rules-cond-error') || (target.classList.contains('rules-conds') ? condError : null);
        if (slot) setMessage(slot, msg);
        else setMessage(err, msg);
        target.querySelector('input, select')?.focus();
        return;
      }
      if (target.closest('.field')) {
        setFieldError(target, msg);
      } else {
        setMessage(err, msg);
      }
      target.focus();
    }

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearErrors();
      for (const fs of form.querySelectorAll('.rules-cond-error')) setMessage(fs, null);
      if (!check()) return;
      const body = collect();
      submit.disabled = true;
      try {
        if (editing) {
          const res = await api.patch(`/rules/${encodeURIComponent(editing.id)}`, body);
          announce('rules.saved', { name: res?.rule?.name ?? body.name });
        } else {
          const res = await api.post('/rules', body);
          announce('rules.created', { name: res?.rule?.name ?? body.name });
        }
        close();
        loadState(listArea, reload);
      } catch (e) {
        showError(e);
      } finally {
        submit.disabled = false;
      }
    });
    cancel.addEventListener('click', () => close());

    function close() {
      form.hidden = true;
      editing = null;
      addBtn.hidden = false;
      addBtn.focus();
    }

    return {
      el: form,
      open(rule) {
        editing = rule;
        clearErrors();
        fill(rule);
        i18n.text(title, rule ? 'rules.edit_title' : 'rules.new_title', rule ? { name: rule.name } : undefined);
        form.hidden = false;
        addBtn.hidden = true;
        name.focus();
        form.scrollIntoView({ block: 'start' });
      },
      setDepartments(list) {
        const keep = department.value;
        department.replaceChildren(h('option', { value: '', t: 'rules.no_department' }),
          list.map((d) => h('option', { value: String(d.id) }, String(d.name))));
        department.value = keep;
      },
    };
  }

  return page;
}
