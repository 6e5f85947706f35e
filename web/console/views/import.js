// Contacts → Import (admins): pick a CSV file, see what it would change
// (a dry run: rows, new, updated, unchanged, errors with line and column),
// then import it and see the result.
import { h, tx } from '/console/dom.js';
import { banner, dataTable, errorMessage, field, pageHeader, setMessage } from '/console/ui.js';

const MAX_BYTES = 64 << 20;

export function renderImport({ api }) {
  const file = h('input', { type: 'file', name: 'file', accept: '.csv,text/csv', required: true });
  const check = h('button', { type: 'submit', class: 'btn primary', t: 'import.check' });
  const err = banner();
  const report = h('div', { class: 'import-report', 'aria-live': 'polite' });
  let text = null;

  function summary(rep, dry) {
    const n = (k) => String(rep[k] ?? 0);
    return h('dl', { class: 'vp-meta import-summary' },
      [['rows', 'import.rows'], ['created', dry ? 'import.would_create' : 'import.created'],
        ['updated', dry ? 'import.would_update' : 'import.updated'], ['unchanged', 'import.unchanged'],
        ['skipped', 'import.skipped']]
        .map(([k, key]) => h('div', { class: 'vp-item', 'data-k': k }, h('dt', { t: key }), h('dd', null, n(k)))));
  }

  function errorsTable(rep) {
    const errs = rep.errors || [];
    if (!errs.length) return h('p', { class: 'muted', t: 'import.no_errors' });
    const t = dataTable([
      { label: 'import.col.line', class: 'num', cell: (e) => String(e.line) },
      { label: 'import.col.field', cell: (e) => (e.field ? h('code', null, e.field) : '—') },
      { label: 'import.col.message', cell: (e) => e.message || '' },
    ], errs, { captionKey: 'import.errors' });
    return h('div', null, h('h3', { class: 'crm-small-title', t: 'import.errors' }),
      rep.errors_truncated ? h('p', { class: 'hint', t: 'import.errors_truncated' }) : null, t.el);
  }

  async function send(dry) {
    return api.postRaw(`/contacts/import${dry ? '?dry_run=1' : ''}`, text, 'text/csv; charset=utf-8');
  }

  function showDry(rep) {
    const go = h('button', { type: 'button', class: 'btn primary', t: 'import.apply' });
    const nothing = (rep.created || 0) + (rep.updated || 0) === 0;
    go.disabled = nothing;
    const goErr = banner();
    go.addEventListener('click', async () => {
      go.disabled = true;
      check.disabled = true;
      setMessage(goErr, null);
      go.replaceChildren(tx('import.applying'));
      try {
        const res = await send(false);
        report.replaceChildren(h('div', { class: 'card' },
          h('h2', { class: 'card-title', tabindex: '-1', t: 'import.done_title' }),
          summary(res, false), errorsTable(res),
          h('div', { class: 'form-actions' }, h('a', { class: 'btn', href: '#/contacts', t: 'import.to_contacts' }))));
        report.querySelector('h2')?.focus();
      } catch (e) {
        go.disabled = false;
        go.replaceChildren(tx('import.apply'));
        setMessage(goErr, errorMessage(e));
      } finally { check.disabled = false; }
    });
    report.replaceChildren(h('div', { class: 'card' },
      h('h2', { class: 'card-title', tabindex: '-1', t: 'import.dry_title' }),
      h('p', { class: 'hint', t: 'import.dry_hint' }),
      summary(rep, true), errorsTable(rep),
      nothing ? h('p', { class: 'muted', t: 'import.nothing' }) : null,
      goErr, h('div', { class: 'form-actions' }, go)));
    report.querySelector('h2')?.focus();
  }

  const form = h('form', { class: 'card form-grid crm-form', novalidate: true, 'aria-labelledby': 'import-title' },
    h('h2', { id: 'import-title', class: 'card-title', t: 'import.pick_title' }),
    field('import.file', file, 'import.file_hint'),
    h('p', { class: 'hint', t: 'import.columns' }),
    err, h('div', { class: 'form-actions' }, check));

  file.addEventListener('change', () => { report.replaceChildren(); setMessage(err, null); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    setMessage(err, null);
    const f = file.files?.[0];
    if (!f) { setMessage(err, { key: 'import.need_file' }); file.focus(); return; }
    if (f.size > MAX_BYTES) { setMessage(err, { key: 'import.too_big' }); return; }
    check.disabled = true;
    try {
      text = await f.text();
      showDry(await send(true));
    } catch (e) {
      setMessage(err, errorMessage(e));
      if (e?.field) err.prepend(h('code', null, e.field), ': ');
    } finally { check.disabled = false; }
  });

  return h('section', { class: 'page page-wide' },
    h('p', { class: 'vp-back' }, h('a', { href: '#/contacts', t: 'contact.back' })),
    pageHeader('import.title', 'import.intro'),
    form, report);
}
