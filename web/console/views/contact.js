// One contact (#/contacts/{id}): stage, owner, details, tags, custom fields
// and consent; notes with their history; possible duplicates with merge;
// the timeline of everything that happened with the person; and for admins
// the export (Art. 15) and the erase (Art. 17).
import { h, tx } from '/console/dom.js';
import { i18n, timeEl } from '/console/i18n.js';
import { announce, banner, clearFormErrors, errorMessage, field, pageHeader, setMessage, validate } from '/console/ui.js';
import {
  STAGES, confirmDialog, contactLabel, debounce, loadOperators, stageBadge,
} from '/console/views/crm.js';
import { money, showFieldError } from '/console/views/contacts.js';

const TIMELINE_PAGE = 30;

export function renderContact({ api, me, live, signal, params }) {
  const id = decodeURIComponent(params.path.replace(/^\/contacts\//, ''));
  const isAdmin = me.role === 'admin';
  const page = h('section', { class: 'page page-wide crm-contact' });
  const head = h('div', { class: 'crm-head' });
  const body = h('div', { class: 'crm-body' }, h('p', { class: 'muted loading', t: 'common.loading' }));
  page.append(h('p', { class: 'vp-back' }, h('a', { href: '#/contacts', t: 'contact.back' })), head, body);
  let contact = null;
  const base = `/contacts/${encodeURIComponent(id)}`;

  const canEdit = () => isAdmin || !contact?.owner || contact.owner.id === me.id;

  async function load() {
    try {
      const res = await api.get(base, { signal });
      contact = res.contact;
      showHead();
    } catch (e) {
      if (e?.name === 'AbortError') return;
      if (e?.status === 409 && e.body?.merged_into) {
        location.replace(`#/contacts/${encodeURIComponent(e.body.merged_into)}`);
        return;
      }
      const p = h('p', { class: 'form-error', role: 'alert' });
      setMessage(p, errorMessage(e));
      head.replaceChildren(pageHeader('contact.title'), p);
      body.replaceChildren();
      return false;
    }
    return true;
  }

  // ---- header: name, stage, owner, facts ----
  const headError = banner();
  function showHead() {
    const c = contact;
    const stageSel = h('select', { name: 'stage', id: 'crm-stage', disabled: !canEdit() },
      STAGES.map((s) => h('option', { value: s, t: `crm.stage.${s}` })));
    stageSel.value = c.stage;
    stageSel.addEventListener('change', () => patch({ stage: stageSel.value }, stageSel, 'contact.stage_saved'));
    const ownerSel = h('select', { name: 'owner', id: 'crm-owner', disabled: !canEdit() },
      h('option', { value: '', t: 'contacts.no_owner' }));
    if (c.owner) ownerSel.append(h('option', { value: c.owner.id }, c.owner.name || c.owner.id));
    ownerSel.value = c.owner?.id || '';
    loadOperators(api).then((ops) => {
      for (const o of ops) {
        if (o.id === c.owner?.id) continue;
        // An agent may make only themselves (or nobody) the owner.
        if (!isAdmin && o.id !== me.id) continue;
        ownerSel.append(h('option', { value: o.id }, o.name));
      }
    });
    ownerSel.addEventListener('change', () => patch({ owner: ownerSel.value || null }, ownerSel, 'contact.owner_saved'));
    const consent = c.consent?.marketing
      ? h('span', null, h('span', { class: 'badge badge-on', t: 'contact.consent_yes' }), ' ', c.consent.at ? timeEl(c.consent.at) : null)
      : h('span', { class: 'badge badge-off', t: c.consent?.at ? 'contact.consent_no' : 'contact.consent_unknown' });
    const title = h('h1', { tabindex: '-1', class: 'crm-name' }, contactLabel(c));
    head.replaceChildren(
      h('header', { class: 'page-head crm-title' }, title, stageBadge(c.stage)),
      h('div', { class: 'card crm-facts' },
        h('div', { class: 'crm-switches' },
          h('div', { class: 'field' }, h('label', { for: 'crm-stage', t: 'contact.stage' }), stageSel),
          h('div', { class: 'field' }, h('label', { for: 'crm-owner', t: 'contact.owner' }), ownerSel)),
        h('dl', { class: 'vp-meta' },
          item('contacts.col.email', c.email ? h('a', { href: `mailto:${c.email}` }, c.email) : '—'),
          item('contacts.col.phone', c.phone ? h('a', { href: `tel:${c.phone}` }, c.phone) : '—'),
          item('contacts.col.company', c.company || '—'),
          item('contact.source', tx(`crm.source.${c.source || 'api'}`)),
          item('contacts.col.value', `${money(c.lifetime_value)} (${i18n.t('contact.orders', { n: c.orders || 0 })})`),
          item('contact.consent', consent),
          item('contact.created', timeEl(c.created_at)),
          item('contacts.col.updated', timeEl(c.updated_at))),
        headError,
        !canEdit() ? h('p', { class: 'hint', t: 'contact.read_only' }) : null),
      isAdmin ? adminActions() : null);
  }

  function item(key, value) {
    return h('div', { class: 'vp-item' }, h('dt', { t: key }), h('dd', null, value));
  }

  async function patch(changes, control, doneKey) {
    setMessage(headError, null);
    if (control) control.disabled = true;
    try {
      const res = await api.patch(base, changes);
      contact = res.contact;
      showHead();
      renderDetails();
      announce(doneKey);
      refreshTimeline();
      return true;
    } catch (e) {
      if (contact) showHead(); // puts the switches back to the stored values
      setMessage(headError, errorMessage(e));
      return false;
    }
  }

  // ---- admin: export and erase ----
  function adminActions() {
    const erase = h('button', { type: 'button', class: 'btn danger', t: 'contact.erase' });
    const err = banner();
    erase.addEventListener('click', async () => {
      const name = contactLabel(contact);
      const ok = await confirmDialog({
        titleKey: 'contact.erase_title', titleArgs: { name },
        paragraphs: ['contact.erase_what', 'contact.erase_final'],
        confirmKey: 'contact.erase_confirm', danger: true, confirmText: name,
      });
      if (!ok) return;
      erase.disabled = true;
      try {
        await api.del(base);
        announce('contact.erased', { name });
        location.hash = '#/contacts';
      } catch (e) {
        erase.disabled = false;
        setMessage(err, errorMessage(e));
      }
    });
    return h('div', { class: 'crm-admin card' },
      h('h2', { class: 'card-title', t: 'contact.admin_title' }),
      h('p', { class: 'hint', t: 'contact.admin_hint' }),
      h('div', { class: 'form-actions' },
        h('a', { class: 'btn', href: `/api/v1${base}/export`, download: `emma-export-${id}.json`, t: 'contact.export' }),
        erase),
      err);
  }

  // ---- details, tags, custom fields ----
  const detailsSlot = h('div');
  function renderDetails() {
    const c = contact;
    const err = banner();
    const inputs = {
      name: h('input', { name: 'name', type: 'text', maxlength: 127, value: c.name || '', autocomplete: 'off' }),
      email: h('input', { name: 'email', type: 'email', maxlength: 254, value: c.email || '', autocomplete: 'off' }),
      phone: h('input', { name: 'phone', type: 'tel', maxlength: 40, value: c.phone || '', autocomplete: 'off' }),
      company: h('input', { name: 'company', type: 'text', maxlength: 127, value: c.company || '', autocomplete: 'off' }),
    };
    const save = h('button', { type: 'submit', class: 'btn primary', t: 'contact.save' });
    const form = h('form', { class: 'card form-grid crm-details', novalidate: true, 'aria-labelledby': 'crm-details-title' },
      h('h2', { id: 'crm-details-title', class: 'card-title', t: 'contact.details' }),
      field('contacts.col.name', inputs.name), field('contacts.col.email', inputs.email),
      field('contacts.col.phone', inputs.phone, 'contacts.phone_hint'), field('contacts.col.company', inputs.company),
      err, h('div', { class: 'form-actions' }, save));
    for (const i of Object.values(inputs)) i.disabled = !canEdit();
    save.disabled = !canEdit();
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearFormErrors(form, err);
      if (!validate(form)) return;
      const changes = {};
      for (const [k, i] of Object.entries(inputs)) {
        const v = i.value.trim();
        if (v !== (c[k] || '')) changes[k] = v || null;
      }
      if (!Object.keys(changes).length) return;
      save.disabled = true;
      try {
        const res = await api.patch(base, changes);
        contact = res.contact;
        showHead();
        renderDetails();
        announce('contact.saved');
      } catch (e) {
        save.disabled = false;
        if (e?.status === 409 && e.body?.existing_id) {
          setMessage(err, { key: 'contact.taken' });
          err.append(' ', h('a', { href: `#/contacts/${encodeURIComponent(e.body.existing_id)}`, t: 'contacts.duplicate_open' }));
        } else showFieldError(form, err, e);
      }
    });
    detailsSlot.replaceChildren(form, tagsCard(), customCard());
  }

  function tagsCard() {
    const tags = [...(contact.tags || [])];
    const err = banner();
    const list = h('ul', { class: 'crm-tags', 'aria-label': i18n.t('contacts.tags') });
    const add = h('input', { type: 'text', name: 'tag', maxlength: 40, autocomplete: 'off' });
    const addBtn = h('button', { type: 'submit', class: 'btn small', t: 'contact.tag_add' });
    async function save(next) {
      setMessage(err, null);
      try {
        const res = await api.patch(base, { tags: next });
        contact = res.contact;
        renderDetails();
        showHead();
        announce('contact.saved');
      } catch (e) {
        const m = /^tags\[(\d+)\]$/.exec(e?.field || '');
        setMessage(err, errorMessage(e));
        if (m) err.prepend(`${next[Number(m[1])]}: `);
      }
    }
    for (const t of tags) {
      const rm = h('button', { type: 'button', class: 'crm-tag-rm', disabled: !canEdit() }, '×');
      i18n.attr(rm, 'aria-label', 'contact.tag_remove', { tag: t });
      rm.addEventListener('click', () => save(tags.filter((x) => x !== t)));
      list.append(h('li', { class: 'crm-tag' }, h('span', null, t), rm));
    }
    const form = h('form', { class: 'crm-tag-form', novalidate: true },
      field('contact.tag_new', add), h('div', { class: 'form-actions' }, addBtn));
    add.disabled = addBtn.disabled = !canEdit();
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const v = add.value.split(',').map((s) => s.trim()).filter(Boolean);
      if (!v.length) return;
      save([...tags, ...v]);
    });
    return h('div', { class: 'card' }, h('h2', { class: 'card-title', t: 'contacts.tags' }),
      tags.length ? list : h('p', { class: 'muted', t: 'contact.no_tags' }), form, err);
  }

  let fieldDefs = null;
  function customCard() {
    const card = h('div', { class: 'card' }, h('h2', { class: 'card-title', t: 'contact.custom' }));
    const fill = (defs) => {
      if (!defs.length) { card.append(h('p', { class: 'muted', t: 'contact.no_custom' })); return; }
      const err = banner();
      const inputs = [];
      const form = h('form', { class: 'form-grid', novalidate: true });
      for (const d of defs) {
        const v = contact.custom?.[d.key];
        let input;
        if (d.type === 'bool') {
          input = h('select', { name: `custom.${d.key}` }, h('option', { value: '', t: 'contact.custom_unset' }),
            h('option', { value: 'true', t: 'contact.yes' }), h('option', { value: 'false', t: 'contact.no' }));
          input.value = v === true ? 'true' : v === false ? 'false' : '';
        } else {
          input = h('input', { name: `custom.${d.key}`, type: d.type === 'number' ? 'number' : d.type === 'date' ? 'date' : 'text', step: d.type === 'number' ? 'any' : null, value: v ?? '' });
        }
        input.disabled = !canEdit();
        inputs.push([d, input]);
        form.append(h('div', { class: 'field' }, h('label', { for: (input.id = `crm-cf-${d.key}`) }, d.label || d.key), input,
          h('p', { class: 'field-error', hidden: true })));
      }
      const save = h('button', { type: 'submit', class: 'btn', t: 'contact.save', disabled: !canEdit() });
      form.append(err, h('div', { class: 'form-actions' }, save));
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        clearFormErrors(form, err);
        const custom = {};
        for (const [d, i] of inputs) {
          const raw = i.value.trim();
          const val = raw === '' ? null : d.type === 'number' ? Number(raw) : d.type === 'bool' ? raw === 'true' : raw;
          if (JSON.stringify(val) !== JSON.stringify(contact.custom?.[d.key] ?? null)) custom[d.key] = val;
        }
        if (!Object.keys(custom).length) return;
        save.disabled = true;
        try {
          const res = await api.patch(base, { custom });
          contact = res.contact;
          renderDetails();
          announce('contact.saved');
        } catch (e) {
          save.disabled = false;
          showFieldError(form, err, e);
        }
      });
      card.append(form);
    };
    if (fieldDefs) fill(fieldDefs);
    else {
      api.get(`/custom-fields?site=${encodeURIComponent(contact.site || '')}`, { signal })
        .then((res) => { fieldDefs = res?.custom_fields || []; fill(fieldDefs); })
        .catch(() => { fieldDefs = null; card.append(h('p', { class: 'muted', t: 'contact.no_custom' })); });
    }
    return card;
  }

  // ---- notes ----
  const notesList = h('ol', { class: 'crm-notes' });
  const notesErr = banner();
  function noteItem(n) {
    const li = h('li', { class: 'crm-note', 'data-id': n.id });
    const text = h('p', { class: 'crm-note-body' }, n.body);
    const meta = h('p', { class: 'muted crm-note-meta' },
      n.author?.name || tx('crm.someone'), ' · ', timeEl(n.created_at),
      n.edited ? h('span', null, ' · ', tx('contact.note_edited', { n: n.revisions || 1 })) : null);
    const acts = h('div', { class: 'crm-note-actions' });
    const mayChange = isAdmin || n.author?.id === me.id;
    const history = h('button', { type: 'button', class: 'btn small ghost', t: 'contact.note_history', hidden: !n.edited });
    const histSlot = h('div', { class: 'crm-note-history' });
    history.addEventListener('click', async () => {
      if (histSlot.childElementCount) { histSlot.replaceChildren(); history.setAttribute('aria-expanded', 'false'); return; }
      try {
        const res = await api.get(`/notes/${encodeURIComponent(n.id)}/revisions`, { signal });
        const revs = res?.revisions || [];
        history.setAttribute('aria-expanded', 'true');
        histSlot.replaceChildren(h('h3', { class: 'crm-small-title', t: 'contact.note_revisions' }),
          h('ol', { class: 'crm-revisions' }, revs.map((r) => h('li', null,
            h('p', { class: 'muted' }, tx('contact.note_replaced', { name: r.editor?.name || i18n.t('crm.someone') }), ' ', timeEl(r.replaced_at)),
            h('p', { class: 'crm-note-body crm-old' }, r.body)))));
      } catch (e) { setMessage(notesErr, errorMessage(e)); }
    });
    acts.append(history);
    if (mayChange) {
      const edit = h('button', { type: 'button', class: 'btn small', t: 'contact.note_edit' });
      const del = h('button', { type: 'button', class: 'btn small ghost', t: 'contact.note_delete' });
      edit.addEventListener('click', () => {
        const ta = h('textarea', { name: 'body', rows: 4, maxlength: 10000, value: n.body, id: `crm-note-edit-${n.id}` });
        const saveBtn = h('button', { type: 'submit', class: 'btn primary small', t: 'contact.note_save' });
        const cancel = h('button', { type: 'button', class: 'btn small ghost', t: 'common.cancel' });
        const f = h('form', { class: 'crm-note-edit', novalidate: true },
          h('label', { for: ta.id, class: 'sr-only', t: 'contact.note_text' }), ta, h('div', { class: 'form-actions' }, saveBtn, cancel));
        cancel.addEventListener('click', () => li.replaceWith(noteItem(n)));
        f.addEventListener('submit', async (ev) => {
          ev.preventDefault();
          if (!ta.value.trim()) return;
          saveBtn.disabled = true;
          try {
            const res = await api.patch(`/notes/${encodeURIComponent(n.id)}`, { body: ta.value });
            f.closest('li').replaceWith(noteItem(res.note));
            announce('contact.note_saved');
            refreshTimeline();
          } catch (e) { saveBtn.disabled = false; setMessage(notesErr, errorMessage(e)); }
        });
        text.replaceWith(f);
        acts.hidden = true;
        ta.focus();
      });
      del.addEventListener('click', async () => {
        const ok = await confirmDialog({ titleKey: 'contact.note_delete_title', paragraphs: ['contact.note_delete_text'], confirmKey: 'contact.note_delete', danger: true });
        if (!ok) return;
        try {
          await api.del(`/notes/${encodeURIComponent(n.id)}`);
          li.remove();
          announce('contact.note_deleted');
          refreshTimeline();
        } catch (e) { setMessage(notesErr, errorMessage(e)); }
      });
      acts.append(edit, del);
    }
    li.append(text, meta, acts, histSlot);
    return li;
  }

  async function loadNotes() {
    const res = await api.get(`${base}/notes?limit=100`, { signal });
    const notes = res?.notes || [];
    notesList.replaceChildren(...notes.map(noteItem));
    notesList.hidden = notes.length === 0;
  }

  function notesCard() {
    const ta = h('textarea', { name: 'body', rows: 3, maxlength: 10000, required: true });
    const add = h('button', { type: 'submit', class: 'btn primary', t: 'contact.note_add' });
    const form = h('form', { class: 'crm-note-form', novalidate: true, 'aria-labelledby': 'crm-notes-title' },
      field('contact.note_new', ta, 'contact.note_hint'), h('div', { class: 'form-actions' }, add));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearFormErrors(form, notesErr);
      if (!validate(form)) return;
      add.disabled = true;
      try {
        const res = await api.post(`${base}/notes`, { body: ta.value });
        ta.value = '';
        notesList.prepend(noteItem(res.note));
        notesList.hidden = false;
        announce('contact.note_added');
        refreshTimeline();
      } catch (e) {
        showFieldError(form, notesErr, e);
      } finally { add.disabled = false; }
    });
    loadNotes().catch((e) => { if (e?.name !== 'AbortError') setMessage(notesErr, errorMessage(e)); });
    return h('div', { class: 'card crm-notes-card' }, h('h2', { id: 'crm-notes-title', class: 'card-title', t: 'contact.notes' }), form, notesErr, notesList);
  }

  // ---- duplicates and merge ----
  const dupCard = h('div', { class: 'card crm-dups', hidden: true });
  async function loadDuplicates() {
    let res;
    try { res = await api.get(`${base}/duplicates`, { signal }); } catch { return; }
    const dups = res?.duplicates || [];
    dupCard.hidden = dups.length === 0;
    const err = banner();
    dupCard.replaceChildren(h('h2', { class: 'card-title', t: 'contact.duplicates' }),
      h('p', { class: 'hint', t: 'contact.duplicates_hint' }),
      h('ul', { class: 'crm-dup-list' }, dups.map((d) => {
        const merge = h('button', { type: 'button', class: 'btn small', t: 'contact.merge' });
        i18n.attr(merge, 'aria-label', 'contact.merge_named', { name: contactLabel(d) });
        merge.addEventListener('click', async () => {
          const ok = await confirmDialog({
            titleKey: 'contact.merge_title', titleArgs: { from: contactLabel(d), into: contactLabel(contact) },
            paragraphs: [{ key: 'contact.merge_what', params: { from: contactLabel(d), into: contactLabel(contact) } }, 'contact.merge_fill', 'contact.merge_final'],
            confirmKey: 'contact.merge_confirm',
          });
          if (!ok) return;
          merge.disabled = true;
          try {
            const r = await api.post(`${base}/merge`, { from: [d.id] });
            contact = r.contact;
            showHead();
            renderDetails();
            announce('contact.merged', { name: contactLabel(d) });
            loadDuplicates();
            loadNotes().catch(() => {});
            refreshTimeline();
          } catch (e) { merge.disabled = false; setMessage(err, errorMessage(e)); }
        });
        return h('li', null,
          h('a', { href: `#/contacts/${encodeURIComponent(d.id)}` }, contactLabel(d)), ' ',
          h('span', { class: 'muted' }, [d.email, d.phone, d.company].filter(Boolean).join(' · ')), ' ',
          (d.reasons || []).map((r) => h('span', { class: 'badge', t: `contact.reason.${['email', 'phone', 'name_company'].includes(r) ? r : 'email'}` })), ' ',
          merge);
      })), err);
  }

  // ---- timeline ----
  const tlList = h('ol', { class: 'crm-timeline' });
  const tlErr = banner();
  const tlMore = h('button', { type: 'button', class: 'btn', t: 'contact.timeline_more', hidden: true });
  const sentinel = h('div', { class: 'crm-sentinel', 'aria-hidden': 'true' });
  let tlCursor = null;
  let tlLoading = false;

  // Symbols most system fonts have (no emoji font needed).
  const ICONS = { visit: '➜', chat: '❝', order: '€', invitation: '✉', callback: '☎', note: '✎', contact_event: '★' };
  function tlItem(it) {
    const kind = ICONS[it.type] ? it.type : 'contact_event';
    const what = h('div', { class: 'crm-tl-what' });
    switch (it.type) {
      case 'visit': {
        what.append(h('p', null, tx('contact.tl.visit', { n: it.pageviews || 0 }), it.referrer ? h('span', { class: 'muted' }, ' · ', it.referrer) : null));
        const pages = (it.pages || []).map((p) => {
          let path = p.url || '';
          try { const u = new URL(p.url); path = u.pathname + u.search; } catch { /* keep the text */ }
          return h('li', null, h('span', { class: 'crm-path' }, path), p.title ? h('span', { class: 'muted' }, ' ', p.title) : null);
        });
        if (pages.length) what.append(h('ol', { class: 'crm-pages' }, pages));
        break;
      }
      case 'chat':
        what.append(h('p', null, h('a', { href: `#/chats?c=${encodeURIComponent(it.id)}`, t: 'contact.tl.chat', tArgs: { n: it.messages || 0 } }),
          ' ', h('span', { class: 'badge', t: `contact.tl.chat_${it.status === 'closed' ? 'closed' : 'open'}` }),
          it.operator ? h('span', { class: 'muted' }, ' · ', it.operator.name) : null));
        break;
      case 'order':
        what.append(h('p', null, tx('contact.tl.order', { total: money(it.total) }), it.order_id ? h('span', { class: 'muted' }, ' · ', String(it.order_id)) : null));
        break;
      case 'invitation':
        what.append(h('p', null, tx(`contact.tl.invitation_${['accepted', 'dismissed'].includes(it.status) ? it.status : 'shown'}`),
          it.message ? h('span', { class: 'muted' }, ' · ', it.message) : null));
        break;
      case 'callback':
        what.append(h('p', null, h('a', { href: '#/callbacks', t: 'contact.tl.callback' }), ' ', it.phone || '', ' ',
          h('span', { class: 'badge', t: `callbacks.status.${cbStatus(it.status)}` }), it.topic ? h('span', { class: 'muted' }, ' · ', it.topic) : null));
        break;
      case 'note':
        what.append(h('p', null, tx('contact.tl.note', { name: it.author?.name || i18n.t('crm.someone') })), h('p', { class: 'crm-note-body' }, it.body));
        break;
      default: {
        const d = it.detail || {};
        if (it.event === 'stage') {
          what.append(h('p', null, tx('contact.tl.stage'), ' ', stageBadge(d.from), ' → ', stageBadge(d.to),
            it.operator ? h('span', { class: 'muted' }, ' · ', it.operator.name) : d.reason ? h('span', { class: 'muted' }, ' · ', tx(`contact.tl.reason_${['order', 'merge'].includes(d.reason) ? d.reason : 'operator'}`)) : null));
        } else if (it.event === 'created') {
          what.append(h('p', null, tx('contact.tl.created', { source: i18n.t(`crm.source.${d.source || 'api'}`) })));
        } else if (it.event === 'merged') {
          what.append(h('p', null, tx('contact.tl.merged', { n: (d.from || []).length || 1 })));
        } else if (it.event === 'visitor_linked') {
          what.append(h('p', null, tx('contact.tl.linked')));
        } else {
          what.append(h('p', null, String(it.event || '')));
        }
      }
    }
    return h('li', { class: `crm-tl crm-tl-${kind}`, 'data-type': it.type },
      h('span', { class: 'crm-tl-icon', 'aria-hidden': 'true' }, ICONS[kind]),
      h('span', { class: 'sr-only', t: `contact.tl.kind_${kind}` }),
      timeEl(it.at), what);
  }

  async function loadTimeline(reset) {
    if (tlLoading && !reset) return;
    tlLoading = true;
    const q = new URLSearchParams({ limit: String(TIMELINE_PAGE) });
    if (!reset && tlCursor) q.set('cursor', tlCursor);
    try {
      const res = await api.get(`${base}/timeline?${q}`, { signal });
      const items = (res?.items || []).map(tlItem);
      if (reset) tlList.replaceChildren(...items); else tlList.append(...items);
      tlCursor = res?.next_cursor || null;
      tlMore.hidden = !tlCursor;
      setMessage(tlErr, null);
      if (!tlList.childElementCount) tlList.replaceChildren(h('li', { class: 'muted', t: 'contact.timeline_empty' }));
    } catch (e) {
      if (e?.name !== 'AbortError') setMessage(tlErr, errorMessage(e));
    } finally { tlLoading = false; }
  }
  const refreshTimeline = debounce(() => loadTimeline(true), 200);
  tlMore.addEventListener('click', () => loadTimeline(false));
  // Infinite scroll: the next page loads when the end of the list comes into view.
  const io = typeof IntersectionObserver === 'function'
    ? new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting) && tlCursor) loadTimeline(false); })
    : null;
  io?.observe(sentinel);

  // ---- live updates ----
  const offs = [];
  if (live) {
    offs.push(live.on('note', (m) => {
      const n = m?.note;
      if (n && (n.contact === id || n.contact === contact?.id)) { loadNotes().catch(() => {}); refreshTimeline(); }
    }));
    offs.push(live.on('lead', (m) => { if (m?.contact?.id === contact?.id) { load().then(() => renderDetails()); refreshTimeline(); } }));
    offs.push(live.on('callback', (m) => { if (m?.callback?.contact?.id === contact?.id) refreshTimeline(); }));
  }
  signal?.addEventListener('abort', () => { for (const off of offs) off?.(); io?.disconnect(); });

  load().then((ok) => {
    if (!ok) return;
    renderDetails();
    body.replaceChildren(
      h('div', { class: 'crm-cols' },
        h('div', { class: 'crm-col-main' },
          notesCard(),
          dupCard,
          h('div', { class: 'card' }, h('h2', { class: 'card-title', t: 'contact.timeline' }), tlErr, tlList, sentinel, h('div', { class: 'form-actions' }, tlMore))),
        h('div', { class: 'crm-col-side' }, detailsSlot)));
    loadDuplicates();
    loadTimeline(true);
  });

  return page;
}

export function cbStatus(s) {
  return ['open', 'called', 'no_answer', 'done', 'cancelled'].includes(s) ? s : 'open';
}
