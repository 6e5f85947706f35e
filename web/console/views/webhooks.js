// Settings → Webhooks (admins): addresses of the shop's other systems that
// Emma tells about new contacts, leads, chats and callbacks. The signing
// secret is shown once; each webhook has a delivery log with retry.
import { h, tx } from '/console/dom.js';
import { i18n, timeEl } from '/console/i18n.js';
import {
  announce, banner, clearFormErrors, dataTable, errorMessage, field, loadState,
  pageHeader, setMessage, showFormError, validate,
} from '/console/ui.js';
import { confirmDialog } from '/console/views/crm.js';

// The events a webhook can receive (docs/contacts.md, "Webhooks").
const EVENTS = 'contact.created contact.updated contact.deleted lead.created chat.started chat.closed callback.requested callback.updated note.created'.split(' ');
const eventKey = (e) => `webhooks.event.${e.replace('.', '_')}`;

export function renderWebhooks({ api, signal }) {
  const listArea = h('div', { class: 'list-area' });
  const rowError = banner();
  const secretSlot = h('div', { class: 'secret-slot' });
  const logSlot = h('div', { class: 'wh-log-slot' });
  let table = null;
  let logTimer = 0;
  signal?.addEventListener('abort', () => clearTimeout(logTimer));

  function showSecret(wh, secret) {
    const input = h('input', { type: 'text', readonly: true, value: secret, class: 'secret', spellcheck: 'false', autocomplete: 'off', name: 'secret' });
    const copied = h('span', { class: 'copied', role: 'status' });
    const copy = h('button', { type: 'button', class: 'btn primary', t: 'webhooks.copy' });
    copy.addEventListener('click', async () => {
      input.select();
      let ok = false;
      try { await navigator.clipboard.writeText(secret); ok = true; } catch {
        try { ok = document.execCommand('copy'); } catch { ok = false; }
      }
      i18n.text(copied, ok ? 'webhooks.copied' : 'webhooks.copy_failed');
    });
    const done = h('button', { type: 'button', class: 'btn ghost', t: 'webhooks.secret_done' });
    done.addEventListener('click', () => { secretSlot.replaceChildren(); urlInput.focus(); });
    input.addEventListener('focus', () => input.select());
    secretSlot.replaceChildren(h('div', { class: 'card secret-panel', role: 'region', 'aria-labelledby': 'wh-secret-title' },
      h('h2', { id: 'wh-secret-title', class: 'card-title', t: 'webhooks.secret_title' }),
      h('p', { class: 'muted' }, wh.url),
      h('p', { class: 'warning', t: 'webhooks.secret_warning' }),
      field('webhooks.secret_label', input, 'webhooks.secret_hint'),
      h('div', { class: 'form-actions' }, copy, done, copied)));
    copy.focus();
  }

  // ---- list ----
  function eventsCell(wh) {
    const ev = wh.events || [];
    if (ev.includes('*')) return h('span', { class: 'badge', t: 'webhooks.all_events' });
    return h('span', { class: 'wh-events' }, ev.map((e) => h('code', null, e)));
  }

  function actionsCell(wh) {
    const wrap = h('div', { class: 'cb-actions' });
    const toggle = h('button', { type: 'button', class: 'btn small', t: wh.enabled ? 'webhooks.disable' : 'webhooks.enable' });
    const test = h('button', { type: 'button', class: 'btn small', t: 'webhooks.test' });
    const log = h('button', { type: 'button', class: 'btn small', t: 'webhooks.log' });
    const del = h('button', { type: 'button', class: 'btn small ghost', t: 'webhooks.delete' });
    const tr = () => wrap.closest('tr');
    toggle.addEventListener('click', async () => {
      setMessage(rowError, null);
      toggle.disabled = true;
      try {
        const res = await api.patch(`/webhooks/${encodeURIComponent(wh.id)}`, { enabled: !wh.enabled });
        Object.assign(wh, res.webhook);
        tr().replaceWith(table.makeRow(wh));
        announce(wh.enabled ? 'webhooks.enabled_done' : 'webhooks.disabled_done');
      } catch (e) { toggle.disabled = false; setMessage(rowError, errorMessage(e)); }
    });
    test.addEventListener('click', async () => {
      setMessage(rowError, null);
      test.disabled = true;
      try {
        await api.post(`/webhooks/${encodeURIComponent(wh.id)}/test`, {});
        announce('webhooks.test_sent');
        showLog(wh);
      } catch (e) { setMessage(rowError, errorMessage(e)); }
      test.disabled = false;
    });
    log.addEventListener('click', () => showLog(wh));
    del.addEventListener('click', async () => {
      const ok = await confirmDialog({ titleKey: 'webhooks.delete_title', paragraphs: [{ key: 'webhooks.delete_text', params: { url: wh.url } }], confirmKey: 'webhooks.delete', danger: true });
      if (!ok) return;
      try {
        await api.del(`/webhooks/${encodeURIComponent(wh.id)}`);
        tr().remove();
        if (logSlot.dataset.id === wh.id) { logSlot.replaceChildren(); clearTimeout(logTimer); }
        announce('webhooks.deleted');
      } catch (e) { setMessage(rowError, errorMessage(e)); }
    });
    wrap.append(toggle, test, log, del);
    return wrap;
  }

  const columns = [
    { label: 'webhooks.col.url', cell: (wh) => h('code', { class: 'wh-url' }, wh.url) },
    { label: 'webhooks.col.events', cell: eventsCell },
    { label: 'webhooks.col.state', cell: (wh) => h('span', { class: `badge ${wh.enabled ? 'badge-on' : 'badge-off'}`, t: wh.enabled ? 'webhooks.on' : 'webhooks.off' }) },
    { label: 'webhooks.col.queue', cell: (wh) => tx('webhooks.queue', { pending: wh.pending || 0, failed: wh.failed || 0 }) },
    { label: 'webhooks.col.actions', cell: actionsCell },
  ];

  async function loadList() {
    const res = await api.get('/webhooks', { signal });
    const rows = res?.webhooks || [];
    table = dataTable(columns, rows, { captionKey: 'webhooks.title', rowAttrs: (wh) => ({ 'data-id': wh.id }) });
    table.el.hidden = rows.length === 0;
    listArea.replaceChildren(rowError, h('p', { class: 'muted empty-inline', t: 'webhooks.none', hidden: rows.length > 0 }), table.el);
  }

  // ---- delivery log ----
  async function showLog(wh) {
    clearTimeout(logTimer);
    logSlot.dataset.id = wh.id;
    const err = banner();
    const refresh = h('button', { type: 'button', class: 'btn small', t: 'webhooks.refresh' });
    const close = h('button', { type: 'button', class: 'btn small ghost', t: 'webhooks.close_log' });
    const area = h('div');
    close.addEventListener('click', () => { clearTimeout(logTimer); logSlot.replaceChildren(); delete logSlot.dataset.id; });
    refresh.addEventListener('click', () => load());
    const cols = [
      { label: 'webhooks.dcol.created', cell: (d) => timeEl(d.created) },
      { label: 'webhooks.dcol.event', cell: (d) => h('code', null, d.event) },
      { label: 'webhooks.dcol.status', cell: (d) => h('span', { class: `badge wh-${['delivered', 'failed'].includes(d.status) ? d.status : 'pending'}`, t: `webhooks.dstatus.${['delivered', 'failed'].includes(d.status) ? d.status : 'pending'}` }) },
      { label: 'webhooks.dcol.attempts', class: 'num', cell: (d) => String(d.attempts || 0) },
      { label: 'webhooks.dcol.last', cell: (d) => h('span', null, d.last_status ? `HTTP ${d.last_status}` : '', d.last_error ? h('span', { class: 'muted' }, ' ', d.last_error) : '') },
      { label: 'webhooks.dcol.next', cell: (d) => (d.next_at ? timeEl(d.next_at) : '—') },
      {
        label: 'webhooks.dcol.actions',
        cell: (d) => {
          if (d.status === 'delivered') return null;
          const b = h('button', { type: 'button', class: 'btn small', t: 'webhooks.retry' });
          b.addEventListener('click', async () => {
            b.disabled = true;
            try {
              await api.post(`/webhooks/deliveries/${encodeURIComponent(d.id)}/retry`, {});
              announce('webhooks.retry_done');
              load();
            } catch (e) { b.disabled = false; setMessage(err, errorMessage(e)); }
          });
          return b;
        },
      },
    ];
    async function load() {
      clearTimeout(logTimer);
      try {
        const res = await api.get(`/webhooks/${encodeURIComponent(wh.id)}/deliveries?limit=50`, { signal });
        const rows = res?.deliveries || [];
        const t = dataTable(cols, rows, { captionKey: 'webhooks.log_title', rowAttrs: (d) => ({ 'data-id': d.id, 'data-status': d.status }) });
        t.el.hidden = rows.length === 0;
        area.replaceChildren(h('p', { class: 'muted', t: 'webhooks.log_none', hidden: rows.length > 0 }), t.el);
        setMessage(err, null);
        // While something waits to be sent, look again shortly.
        if (rows.some((d) => d.status === 'pending') && logSlot.dataset.id === wh.id) logTimer = setTimeout(load, 2000);
      } catch (e) {
        if (e?.name !== 'AbortError') setMessage(err, errorMessage(e));
      }
    }
    logSlot.replaceChildren(h('div', { class: 'card wh-log', role: 'region', 'aria-labelledby': 'wh-log-title' },
      h('h2', { id: 'wh-log-title', class: 'card-title', t: 'webhooks.log_for' }),
      h('p', null, h('code', null, wh.url)),
      h('div', { class: 'form-actions' }, refresh, close), err, area));
    await load();
  }

  // ---- create ----
  const urlInput = h('input', { name: 'url', type: 'url', required: true, maxlength: 2000, autocomplete: 'off', placeholder: 'https://' });
  const all = h('input', { type: 'checkbox', name: 'all_events', id: 'wh-ev-all' });
  const boxes = EVENTS.map((e) => h('input', { type: 'checkbox', name: 'events', value: e, id: `wh-ev-${e.replace('.', '-')}` }));
  all.addEventListener('change', () => { for (const b of boxes) b.disabled = all.checked; });
  const eventsErr = h('p', { class: 'field-error', hidden: true });
  const fieldset = h('fieldset', { class: 'wh-events-pick field' },
    h('legend', { t: 'webhooks.events' }),
    h('label', { class: 'crm-check', for: 'wh-ev-all' }, all, ' ', tx('webhooks.all_events')),
    boxes.map((b) => h('label', { class: 'crm-check', for: b.id }, b, ' ', h('code', null, b.value), ' ', h('span', { class: 'muted', t: eventKey(b.value) }))),
    eventsErr);
  const submit = h('button', { type: 'submit', class: 'btn primary', t: 'webhooks.create' });
  const err = banner();
  const form = h('form', { class: 'card form-grid crm-form', novalidate: true, 'aria-labelledby': 'wh-new-title' },
    h('h2', { id: 'wh-new-title', class: 'card-title', t: 'webhooks.new_title' }),
    field('webhooks.col.url', urlInput, 'webhooks.url_hint'),
    fieldset, err, h('div', { class: 'form-actions' }, submit));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFormErrors(form, err);
    setMessage(eventsErr, null);
    if (!validate(form)) return;
    const events = all.checked ? ['*'] : boxes.filter((b) => b.checked).map((b) => b.value);
    if (!events.length) { setMessage(eventsErr, { key: 'webhooks.pick_event' }); boxes[0].focus(); return; }
    submit.disabled = true;
    try {
      const res = await api.post('/webhooks', { url: urlInput.value.trim(), events });
      const wh = res.webhook;
      const secret = wh.secret;
      delete wh.secret;
      form.reset();
      for (const b of boxes) b.disabled = false;
      if (table) { table.addRow(wh).classList.add('row-new'); table.el.hidden = false; listArea.querySelector('.empty-inline')?.setAttribute('hidden', ''); }
      showSecret(wh, secret);
    } catch (e) {
      if (e?.field?.startsWith('events')) setMessage(eventsErr, errorMessage(e));
      else showFormError(form, err, e);
    } finally { submit.disabled = false; }
  });

  loadState(listArea, loadList);

  return h('section', { class: 'page page-wide' },
    pageHeader('webhooks.title', 'webhooks.intro'),
    form, secretSlot,
    h('h2', { class: 'section-title', t: 'webhooks.list' }),
    listArea, logSlot);
}
