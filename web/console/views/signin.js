// The sign-in page: e-mail and password → POST /api/v1/login.
import { h } from '/console/dom.js';
import { banner, clearFormErrors, field, setMessage, showFormError, validate, errorMessage } from '/console/ui.js';
import { langSwitch } from '/console/views/langswitch.js';

export function renderSignIn({ api, onSignedIn, onLang, notice }) {
  const email = h('input', { name: 'email', type: 'email', autocomplete: 'username', required: true, spellcheck: 'false', autocapitalize: 'none' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit', class: 'btn primary wide', t: 'signin.submit' });
  const err = banner();
  const info = h('p', { class: 'notice', role: 'status', hidden: true });
  if (notice) setMessage(info, notice);
  let lockedUntil = 0;

  const form = h('form', { class: 'signin-form', novalidate: true, 'aria-labelledby': 'signin-title' },
    info,
    field('signin.email', email),
    field('signin.password', password),
    err,
    submit);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFormErrors(form, err);
    setMessage(info, null);
    if (Date.now() < lockedUntil || !validate(form)) return;
    submit.disabled = true;
    form.setAttribute('aria-busy', 'true');
    try {
      const res = await api.post('/login', { email: email.value.trim(), password: password.value }, { expect401: true });
      api.setCsrf(res.csrf);
      onSignedIn(res.operator);
    } catch (e) {
      password.value = '';
      if (e.status === 401) setMessage(err, errorMessage(e, { [e.code]: 'error.invalid_credentials' }));
      else showFormError(form, err, e);
      if (e.status === 429) {
        // Keep the button off until the server will listen again.
        const wait = (e.retryAfter || 30) * 1000;
        lockedUntil = Date.now() + wait;
        setTimeout(() => { submit.disabled = false; }, wait);
        return;
      }
      (e.field ? form.elements.namedItem(e.field) : password)?.focus?.();
    } finally {
      form.removeAttribute('aria-busy');
      if (Date.now() >= lockedUntil) submit.disabled = false;
    }
  });

  const page = h('main', { class: 'signin', id: 'main' },
    h('div', { class: 'signin-card' },
      h('p', { class: 'brand brand-lg' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), h('span', { t: 'app.name' })),
      h('h1', { id: 'signin-title', t: 'signin.title' }),
      h('p', { class: 'intro', t: 'signin.intro' }),
      form),
    h('div', { class: 'signin-foot' }, langSwitch(onLang)));
  queueMicrotask(() => email.focus());
  return page;
}
