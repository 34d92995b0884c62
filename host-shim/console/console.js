// mtls-gate certificate console (served by `mtls-gate-shim serve --console`).
//
// Hand-written, no framework, no build step. Rules this file keeps:
// - Nothing from a certificate or an API answer is ever parsed as HTML: every node is made
//   with createElement/createElementNS and filled with textContent (host-shim/src/console
//   has a test that refuses HTML and code sinks in this file).
// - The credential (admin secret or Dashboard key) lives only in this tab's sessionStorage
//   and travels only as the API header; no cookie is ever set, so there is nothing for a
//   cross-site request to ride on.
'use strict';

(() => {
  const STORAGE_KEY = 'mtls-gate-console';
  const DAY_MS = 86400000;
  const DEFAULT_WARNING_DAYS = 30;
  const TIMELINE_DAYS = 90;
  // SPEC §10's roles, in the order the timeline shows them.
  const ROLES = ['client', 'upstream', 'server', 'control_api'];
  const SVG_NS = 'http://www.w3.org/2000/svg';
  // A shim that does not answer GET /gate/certificates knows no gate inventory.
  const NO_GATE = 'No gate known: this shim answers no gate inventory (GET /gate/certificates).';

  // ---- DOM building (text only) ----

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    setProps(node, props);
    append(node, children);
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    setProps(node, attrs);
    append(node, children);
    return node;
  }

  function setProps(node, props) {
    for (const [name, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'text') node.textContent = String(value);
      else if (name === 'class') node.setAttribute('class', value);
      else if (name.startsWith('on') && typeof value === 'function') {
        node.addEventListener(name.slice(2), value);
      } else if (name === 'value' || name === 'checked' || name === 'disabled') {
        node[name] = value;
      } else node.setAttribute(name, value === true ? '' : String(value));
    }
  }

  function append(node, children) {
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function setMessage(node, text, kind) {
    node.textContent = text || '';
    node.className = 'message' + (kind ? ' ' + kind : '');
  }

  // An in-page confirmation (not window.confirm): the tests treat any browser dialog as a
  // failure, since an injected alert() would be one.
  function confirmAction(text, actionLabel) {
    return new Promise((resolve) => {
      const done = (answer) => {
        overlay.remove();
        resolve(answer);
      };
      const yes = el('button', { id: 'confirm-yes', class: 'danger primary', type: 'button',
        text: actionLabel, onclick: () => done(true) });
      const no = el('button', { id: 'confirm-no', type: 'button', text: 'Cancel',
        onclick: () => done(false) });
      const overlay = el('div', { class: 'overlay', role: 'dialog', 'aria-modal': 'true' },
        el('div', { class: 'dialog' }, el('p', { text }), el('div', { class: 'row' }, no, yes)));
      document.body.append(overlay);
      yes.focus();
    });
  }

  // ---- the signed-in session (sessionStorage only) ----

  function loadSession() {
    try {
      const stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || 'null');
      if (stored && (stored.mode === 'admin' || stored.mode === 'org') &&
          typeof stored.secret === 'string' && stored.secret !== '') {
        return stored;
      }
    } catch (_) { /* unreadable: signed out */ }
    return null;
  }

  let session = loadSession();

  function signOut() {
    sessionStorage.removeItem(STORAGE_KEY);
    session = null;
    location.hash = '';
    render();
  }

  // ---- the API ----

  // One call with the session's header. Answers {ok, status, data, message}; `message` is the
  // API's own error text (Tyk's `message`, Dashboard's `Message`), shown as is.
  async function call(method, path, body, contentType, credential) {
    const who = credential || session;
    const headers = {};
    if (who.mode === 'admin') headers['x-tyk-authorization'] = who.secret;
    else headers.authorization = who.secret;
    if (body !== undefined) headers['content-type'] = contentType || 'application/json';
    let response;
    try {
      response = await fetch(path, { method, headers, body, cache: 'no-store',
        credentials: 'omit', redirect: 'error' });
    } catch (error) {
      return { ok: false, status: 0, data: null, message: 'cannot reach the shim: ' + error };
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
    const apiMessage = data && typeof data === 'object' ? (data.message || data.Message) : '';
    const message = apiMessage || (response.ok ? '' : `${response.status} ${response.statusText}`);
    return { ok: response.ok, status: response.status, data, message: String(message) };
  }

  const path = (segment) => encodeURIComponent(segment);

  // The two API flavours: the admin secret speaks Tyk's Gateway API (/tyk), a Dashboard key
  // Tyk Dashboard's (/api), which scopes everything to its org.
  const flavours = {
    admin: {
      label: 'admin secret',
      async certs() {
        const r = await call('GET', '/tyk/certs?mode=detailed');
        return r.ok ? { ok: true, certs: (r.data && r.data.certs) || [] } : r;
      },
      cert: (id) => call('GET', '/tyk/certs/' + path(id)),
      upload: (body, type, org) =>
        call('POST', '/tyk/certs' + (org ? '?org_id=' + encodeURIComponent(org) : ''), body, type),
      deleteCert: (id) => call('DELETE', '/tyk/certs/' + path(id)),
      async keys() {
        const r = await call('GET', '/tyk/keys');
        if (!r.ok) return r;
        const ids = (r.data && r.data.keys) || [];
        const sessions = await Promise.all(ids.map((key) => call('GET', '/tyk/keys/' + path(key))));
        const keys = [];
        ids.forEach((key, i) => {
          if (sessions[i].ok && sessions[i].data) keys.push({ key, session: sessions[i].data });
        });
        return { ok: true, keys };
      },
      async key(key) {
        const r = await call('GET', '/tyk/keys/' + path(key));
        return r.ok ? { ok: true, session: r.data } : r;
      },
      createKey: (s) => call('POST', '/tyk/keys/create', JSON.stringify(s)),
      updateKey: (key, s) => call('PUT', '/tyk/keys/' + path(key), JSON.stringify(s)),
      deleteKey: (key) => call('DELETE', '/tyk/keys/' + path(key)),
      async usedBy(id) {
        const gate = await gateInventory();
        if (!gate.known) return gate;
        const uses = gate.rows.filter((row) => row.id === id)
          .map((row) => ({ api: row.api_id || '', role: row.role || '' }));
        return { known: true, uses };
      },
    },
    org: {
      label: 'Dashboard key',
      async certs() {
        const r = await call('GET', '/api/certs?mode=detailed&p=0');
        return r.ok ? { ok: true, certs: (r.data && r.data.cert_basics) || [] } : r;
      },
      cert: (id) => call('GET', '/api/certs/' + path(id)),
      upload: (body, type) => call('POST', '/api/certs', body, type),
      deleteCert: (id) => call('DELETE', '/api/certs/' + path(id)),
      async keys() {
        const r = await call('GET', '/api/keys/detailed?p=0');
        if (!r.ok) return r;
        const keys = ((r.data && r.data.keys) || []).map((k) => ({ key: k.key_id, session: k.data }));
        return { ok: true, keys };
      },
      async key(key) {
        const r = await call('GET', '/api/keys/' + path(key));
        return r.ok ? { ok: true, session: r.data && r.data.data } : r;
      },
      createKey: (s) => call('POST', '/api/keys', JSON.stringify(s)),
      updateKey: (key, s) => call('PUT', '/api/keys/' + path(key), JSON.stringify(s)),
      deleteKey: (key) => call('DELETE', '/api/keys/' + path(key)),
      // Dashboard's own answer: the org's APIs naming the certificate.
      async usedBy(id) {
        const r = await call('GET', '/api/certs/' + path(id) + '/apis?p=0');
        if (!r.ok) return { known: false, message: r.message };
        const uses = [];
        for (const api of (r.data && r.data.apis) || []) {
          for (const role of api.usage_type || []) uses.push({ api: api.api_id || '', role });
        }
        return { known: true, uses };
      },
    },
  };

  const api = () => flavours[session.mode];

  // `GET /gate/certificates` (admin secret): every certificate the gate uses, one row per use.
  // 404: this shim knows no gate (or predates the inventory).
  async function gateInventory() {
    if (session.mode !== 'admin') return { known: false, message: 'needs the admin secret' };
    const r = await call('GET', '/gate/certificates');
    if (r.status === 404) return { known: false, message: NO_GATE };
    if (!r.ok) return { known: false, message: r.message };
    const rows = (r.data && Array.isArray(r.data.certificates)) ? r.data.certificates : [];
    const warning = Number(r.data && r.data.warning_threshold_days) || DEFAULT_WARNING_DAYS;
    return { known: true, rows, warning };
  }

  // ---- dates ----

  function daysLeft(notAfter) {
    const t = Date.parse(notAfter);
    return Number.isNaN(t) ? null : Math.floor((t - Date.now()) / DAY_MS);
  }

  function expiryClass(days, warning) {
    if (days === null) return '';
    if (days < 0) return 'expired';
    return days < (warning || DEFAULT_WARNING_DAYS) ? 'expiring' : 'ok';
  }

  function formatDate(value) {
    const t = typeof value === 'number' ? value * 1000 : Date.parse(value);
    if (Number.isNaN(t)) return String(value || '');
    return new Date(t).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  }

  function daysText(days) {
    if (days === null) return '?';
    if (days < 0) return `expired ${-days} d ago`;
    return `${days} d`;
  }

  // The org part of a store ID (org + 64 hex).
  function orgOf(id) {
    return /^[0-9a-f]{64}$/.test(id.slice(-64)) ? id.slice(0, -64) : '';
  }

  // ---- pages ----

  const app = () => document.getElementById('app');

  function render() {
    renderNav();
    const root = app();
    clear(root);
    if (!session) {
      renderSignIn(root);
      return;
    }
    const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ''));
    if (hash.startsWith('certificates/')) renderCertificate(root, hash.slice('certificates/'.length));
    else if (hash === 'keys') renderKeys(root);
    else if (hash === 'timeline' && session.mode === 'admin') renderTimeline(root);
    else renderCertificates(root);
  }

  function renderNav() {
    const nav = document.getElementById('nav');
    clear(nav);
    nav.hidden = !session;
    if (!session) return;
    const current = location.hash.replace(/^#\/?/, '').split('/')[0] || 'certificates';
    const link = (name, label) => el('a', { href: '#/' + name, id: 'nav-' + name,
      class: current === name ? 'active' : null, text: label });
    append(nav, [
      link('certificates', 'Certificates'),
      link('keys', 'Keys'),
      // The gate's inventory is an admin route; a Dashboard key cannot read it.
      session.mode === 'admin' ? link('timeline', 'Expiry timeline') : null,
      el('span', { class: 'who', id: 'who', text: 'signed in with the ' + api().label }),
      el('button', { id: 'sign-out', type: 'button', text: 'Sign out', onclick: signOut }),
    ]);
  }

  function renderSignIn(root) {
    const kind = el('select', { id: 'sign-in-kind' },
      el('option', { value: 'admin', text: 'Admin secret (X-Tyk-Authorization)' }),
      el('option', { value: 'org', text: 'Dashboard API key (an organisation)' }));
    const secret = el('input', { id: 'sign-in-secret', type: 'password', autocomplete: 'off',
      spellcheck: 'false', required: true });
    const error = el('p', { id: 'sign-in-error', class: 'message', role: 'alert' });
    const button = el('button', { id: 'sign-in-submit', class: 'primary', type: 'submit', text: 'Sign in' });
    const form = el('form', { id: 'sign-in', class: 'panel sign-in', novalidate: true },
      el('h2', { text: 'Sign in' }),
      el('p', { class: 'muted', text: 'The credential stays in this tab (session storage) and is sent only as the API header to this shim.' }),
      el('label', { for: 'sign-in-kind', text: 'Credential' }), kind,
      el('label', { for: 'sign-in-secret', text: 'Secret or key' }), secret,
      button, error);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      setMessage(error, '');
      const candidate = { mode: kind.value, secret: secret.value.trim() };
      if (!candidate.secret) {
        setMessage(error, 'Enter the secret or key.', 'error');
        return;
      }
      button.disabled = true;
      const answer = await probeWith(candidate);
      button.disabled = false;
      if (!answer.ok) {
        setMessage(error, answer.message || 'Sign-in refused', 'error');
        return;
      }
      session = candidate;
      sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
      secret.value = '';
      location.hash = '#/certificates';
      render();
    });
    append(root, [form]);
    secret.focus();
  }

  // A cheap authenticated read: it tells a wrong credential (403 / 401, with the API's
  // message) from a right one before anything is stored.
  function probeWith(candidate) {
    return candidate.mode === 'admin'
      ? call('GET', '/tyk/certs', undefined, undefined, candidate)
      : call('GET', '/api/certs', undefined, undefined, candidate);
  }

  // ---- certificates ----

  const CERT_COLUMNS = [
    { key: 'subject_cn', label: 'Subject CN', cls: 'cn', value: (c) => c.subject_cn || '' },
    { key: 'issuer_cn', label: 'Issuer', cls: 'issuer', value: (c) => c.issuer_cn || '' },
    { key: 'id', label: 'ID', cls: 'id mono', value: (c) => c.id || '' },
    { key: 'dns_names', label: 'DNS names', cls: 'dns', value: (c) => (c.dns_names || []).join(', ') },
    { key: 'has_private', label: 'Key', cls: 'has-key', value: (c) => (c.has_private ? 'yes' : 'no') },
    { key: 'is_ca', label: 'CA', cls: 'ca', value: (c) => (c.is_ca ? 'yes' : 'no') },
    { key: 'not_after', label: 'Not after', cls: 'not-after', value: (c) => Date.parse(c.not_after) || 0 },
    { key: 'days', label: 'Days left', cls: 'days', value: (c) => daysLeft(c.not_after) ?? 0 },
  ];
  const certView = { sort: 'days', dir: 1, filter: '' };

  async function renderCertificates(root) {
    const tbody = el('tbody');
    const count = el('span', { id: 'cert-count', class: 'muted' });
    const status = el('p', { id: 'cert-status', class: 'message', role: 'status' });
    const filter = el('input', { id: 'cert-filter', type: 'search', placeholder: 'Filter: CN, issuer, ID, DNS name',
      value: certView.filter });
    const headRow = el('tr');
    const table = el('table', { id: 'cert-table' }, el('thead', {}, headRow), tbody);
    append(root, [
      el('h2', { text: 'Certificates' }),
      el('div', { class: 'toolbar' }, filter, count),
      status, table,
      uploadPanel(() => load()),
    ]);
    let certs = [];

    const drawHead = () => {
      clear(headRow);
      for (const column of CERT_COLUMNS) {
        const sorted = certView.sort === column.key;
        headRow.append(el('th', { 'data-sort': column.key,
          'aria-sort': sorted ? (certView.dir > 0 ? 'ascending' : 'descending') : 'none' },
        el('button', { class: 'sort', type: 'button', text: column.label, onclick: () => {
          certView.dir = sorted ? -certView.dir : 1;
          certView.sort = column.key;
          drawHead();
          drawBody();
        } })));
      }
      headRow.append(el('th', { text: '' }));
    };

    const drawBody = () => {
      clear(tbody);
      const needle = certView.filter.toLowerCase();
      const column = CERT_COLUMNS.find((c) => c.key === certView.sort) || CERT_COLUMNS[7];
      const shown = certs
        .filter((c) => !needle || [c.subject_cn, c.issuer_cn, c.id, ...(c.dns_names || [])]
          .some((v) => String(v || '').toLowerCase().includes(needle)))
        .sort((a, b) => {
          const x = column.value(a);
          const y = column.value(b);
          const order = typeof x === 'number' ? x - y : String(x).localeCompare(String(y));
          return order * certView.dir || String(a.id).localeCompare(String(b.id));
        });
      count.textContent = `${shown.length} of ${certs.length} certificate${certs.length === 1 ? '' : 's'}`;
      if (shown.length === 0) {
        tbody.append(el('tr', {}, el('td', { colspan: CERT_COLUMNS.length + 1, class: 'empty',
          text: certs.length ? 'No certificate matches the filter.' : 'No certificates yet: upload one below.' })));
      }
      for (const cert of shown) {
        const days = daysLeft(cert.not_after);
        const cls = expiryClass(days);
        const row = el('tr', { class: 'clickable ' + cls, 'data-id': cert.id, tabindex: 0,
          onclick: () => { location.hash = '#/certificates/' + encodeURIComponent(cert.id); } });
        for (const column of CERT_COLUMNS) {
          let text = column.value(cert);
          if (column.key === 'not_after') text = formatDate(cert.not_after);
          if (column.key === 'days') text = daysText(days);
          row.append(el('td', { class: column.cls, text, title: column.key === 'id' ? cert.id : null }));
        }
        row.append(el('td', { class: 'actions' }, el('button', { class: 'danger delete-cert', type: 'button', text: 'Delete',
          onclick: (event) => {
            event.stopPropagation();
            deleteCertificate(cert, status, () => load());
          } })));
        tbody.append(row);
      }
    };

    // Fetches the list again and redraws the rows; the filter, the sort and the upload
    // panel (with its last answer) stay as they are.
    async function load() {
      const loaded = await api().certs();
      if (!loaded.ok) {
        setMessage(status, loaded.message, 'error');
        return;
      }
      certs = loaded.certs;
      drawBody();
    }

    filter.addEventListener('input', () => {
      certView.filter = filter.value;
      drawBody();
    });
    drawHead();
    await load();
  }

  async function deleteCertificate(cert, status, after) {
    const name = cert.subject_cn ? `"${cert.subject_cn}" (${cert.id})` : cert.id;
    if (!(await confirmAction(`Delete certificate ${name}? Keys bound to it stay but stop working until it is uploaded again.`, 'Delete certificate'))) {
      return;
    }
    const r = await api().deleteCert(cert.id);
    if (!r.ok) {
      setMessage(status, r.message, 'error');
      return;
    }
    after();
  }

  // Upload by paste or by file: certificate, certificate + key, chain, or public key. The
  // file goes up as its bytes (a DER file then gets the API's own explanation).
  function uploadPanel(after) {
    const pem = el('textarea', { id: 'upload-pem', spellcheck: 'false',
      placeholder: '-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----\n(add its -----BEGIN PRIVATE KEY----- to upload a key with it, or paste a chain or a public key)' });
    const file = el('input', { id: 'upload-file', type: 'file', accept: '.pem,.crt,.cer,.der,.key,.pub' });
    const org = session.mode === 'admin'
      ? el('input', { id: 'upload-org', type: 'text', placeholder: 'org_id (optional)', spellcheck: 'false' })
      : null;
    const result = el('p', { id: 'upload-result', class: 'message', role: 'status' });
    const button = el('button', { id: 'upload-submit', class: 'primary', type: 'button', text: 'Upload' });
    button.addEventListener('click', async () => {
      setMessage(result, '');
      const chosen = file.files && file.files[0];
      const body = chosen || pem.value;
      if (!chosen && !pem.value.trim()) {
        setMessage(result, 'Paste a PEM or choose a file.', 'error');
        return;
      }
      button.disabled = true;
      const r = await api().upload(body, chosen ? 'application/octet-stream' : 'text/plain',
        org ? org.value.trim() : '');
      button.disabled = false;
      if (!r.ok) {
        setMessage(result, r.message, 'error');
        return;
      }
      pem.value = '';
      file.value = '';
      setMessage(result, `${(r.data && r.data.message) || 'Certificate added'}: ${(r.data && r.data.id) || ''}`, 'ok');
      after(r.data && r.data.id);
    });
    return el('section', { class: 'panel', id: 'upload' },
      el('h3', { text: 'Upload a certificate' }),
      pem,
      el('div', { class: 'row' },
        el('label', { class: 'inline', for: 'upload-file', text: 'or a file:' }), file,
        org ? el('label', { class: 'inline', for: 'upload-org', text: 'org:' }) : null, org,
        button),
      result);
  }

  // One certificate: its metadata, the gate's APIs that use it, the keys bound to it.
  async function renderCertificate(root, id) {
    const status = el('p', { id: 'detail-status', class: 'message', role: 'status' });
    append(root, [el('p', {}, el('a', { href: '#/certificates', id: 'back', text: '← Certificates' })), status]);
    const r = await api().cert(id);
    if (!r.ok || !r.data) {
      setMessage(status, r.message || 'Certificate not found', 'error');
      return;
    }
    const meta = r.data;
    const name = (n) => (n && n.CommonName) || '';
    const list = (n, field) => ((n && n[field]) || []).join(', ');
    const days = daysLeft(meta.not_after);
    const cls = expiryClass(days);
    const field = (label, value, klass) => [el('dt', { text: label }), el('dd', { class: klass, text: value })];
    const details = el('dl', { class: 'meta', id: 'cert-meta' },
      field('Subject CN', name(meta.subject), 'cn'),
      list(meta.subject, 'Organization') ? field('Subject O', list(meta.subject, 'Organization')) : null,
      list(meta.subject, 'OrganizationalUnit') ? field('Subject OU', list(meta.subject, 'OrganizationalUnit')) : null,
      field('Issuer CN', name(meta.issuer), 'issuer'),
      field('ID', meta.id, 'mono'),
      field('Fingerprint (SHA-256)', meta.fingerprint, 'mono'),
      field('DNS names', (meta.dns_names || []).join(', ') || '—'),
      field('Private key', meta.has_private ? 'stored (encrypted)' : 'none'),
      field('CA', meta.is_ca ? 'yes' : 'no'),
      field('Not before', formatDate(meta.not_before)),
      field('Not after', formatDate(meta.not_after)),
      field('Days left', daysText(days), cls === 'ok' ? '' : cls + '-text'));

    const usedBy = el('div', { id: 'used-by' }, el('p', { class: 'muted', text: 'Loading…' }));
    const keysBound = el('div', { id: 'keys-bound' }, el('p', { class: 'muted', text: 'Loading…' }));
    append(root, [
      el('h2', { id: 'detail-title', text: name(meta.subject) || meta.id }),
      el('section', { class: 'panel' }, details,
        el('div', { class: 'row actions' }, el('button', { class: 'danger', id: 'detail-delete', type: 'button',
          text: 'Delete certificate', onclick: () => deleteCertificate({ id: meta.id, subject_cn: name(meta.subject) },
            status, () => { location.hash = '#/certificates'; }) }))),
      el('div', { class: 'grid2' },
        el('section', { class: 'panel' }, el('h3', { text: 'APIs that use it' }), usedBy),
        el('section', { class: 'panel' }, el('h3', { text: 'Keys bound to it' }), keysBound)),
    ]);

    const [uses, keys] = await Promise.all([api().usedBy(meta.id), api().keys()]);
    clear(usedBy);
    if (!uses.known) {
      usedBy.append(el('p', { class: 'empty', text: uses.message }));
    } else if (uses.uses.length === 0) {
      usedBy.append(el('p', { class: 'empty', text: session.mode === 'admin'
        ? 'No API of the gate names this certificate (or no gate is known: start serve with --gate FILE, or run render).'
        : 'No API of the gate names this certificate.' }));
    } else {
      usedBy.append(el('ul', {}, uses.uses.map((u) =>
        el('li', {}, el('span', { class: 'api', text: u.api || '(no API: a global list, or a key bound to it)' }), ' ', el('span', { class: 'badge', text: u.role })))));
    }
    clear(keysBound);
    const bound = keys.ok ? keys.keys.filter((k) => k.session && k.session.certificate === meta.id) : [];
    if (!keys.ok) keysBound.append(el('p', { class: 'message error', text: keys.message }));
    else if (bound.length === 0) keysBound.append(el('p', { class: 'empty', text: 'No key is bound to it.' }));
    else {
      keysBound.append(el('ul', {}, bound.map((k) => el('li', {},
        el('span', { class: 'mono', text: k.key }), ' ',
        k.session.alias ? el('span', { class: 'badge', text: k.session.alias }) : null,
        k.session.is_inactive ? el('span', { class: 'badge inactive', text: 'inactive' }) : null))));
    }
  }

  // ---- keys ----

  async function renderKeys(root) {
    const status = el('p', { id: 'key-status', class: 'message', role: 'status' });
    const tbody = el('tbody');
    const formSlot = el('div', { id: 'key-form-slot' });
    append(root, [
      el('h2', { text: 'Keys' }),
      el('p', { class: 'muted', text: 'Certificate-auth keys (Tyk sessions): a key is bound to one certificate and opens the APIs in its access rights.' }),
      el('div', { class: 'toolbar' }, el('button', { id: 'key-new', class: 'primary', type: 'button', text: 'New key',
        onclick: () => openForm(null) })),
      formSlot, status,
      el('table', { id: 'key-table' }, el('thead', {}, el('tr', {},
        ['Key', 'Alias', 'Certificate', 'Expires', 'State', 'APIs', ''].map((h) => el('th', { text: h })))), tbody),
    ]);

    const [keys, certs, gate] = await Promise.all([api().keys(), api().certs(), gateInventory()]);
    if (!keys.ok) {
      setMessage(status, keys.message, 'error');
      return;
    }
    const certList = certs.ok ? certs.certs : [];
    const certName = (id) => {
      const cert = certList.find((c) => c.id === id);
      return cert ? cert.subject_cn || id : id;
    };
    const gateApis = gate.known
      ? [...new Set(gate.rows.map((row) => row.api_id).filter(Boolean))].sort()
      : [];
    const now = Date.now() / 1000;

    if (keys.keys.length === 0) {
      tbody.append(el('tr', {}, el('td', { colspan: 7, class: 'empty', text: 'No keys yet.' })));
    }
    for (const { key, session: s } of keys.keys) {
      const expired = s.expires > 0 && s.expires < now;
      const state = s.is_inactive ? 'inactive' : expired ? 'expired' : 'active';
      tbody.append(el('tr', { 'data-key': key, class: expired ? 'expired' : null },
        el('td', { class: 'mono key', text: key }),
        el('td', { class: 'alias', text: s.alias || '' }),
        el('td', { class: 'certificate', text: certName(s.certificate), title: s.certificate }),
        el('td', { class: 'expires', text: s.expires > 0 ? formatDate(s.expires) : 'never' }),
        el('td', { class: 'state' }, el('span', { class: 'badge ' + (state === 'active' ? 'yes' : 'inactive'), text: state })),
        el('td', { class: 'apis' }, Object.keys(s.access_rights || {}).map((a) => el('span', { class: 'badge', text: a }))),
        el('td', { class: 'actions' },
          el('button', { class: 'edit-key', type: 'button', text: 'Edit', onclick: async () => {
            // Tyk's PUT replaces the whole session: start from what is stored now, not from
            // the list this page loaded, so a change made meanwhile is not undone.
            const fresh = await api().key(key);
            if (!fresh.ok || !fresh.session) setMessage(status, fresh.message || 'Key not found', 'error');
            else openForm({ key, session: fresh.session });
          } }), ' ',
          el('button', { class: 'danger delete-key', type: 'button', text: 'Delete', onclick: async () => {
            if (!(await confirmAction(`Delete key ${key}${s.alias ? ` ("${s.alias}")` : ''}? The client certificate stops opening its APIs.`, 'Delete key'))) return;
            const r = await api().deleteKey(key);
            if (!r.ok) setMessage(status, r.message, 'error');
            else renderPage();
          } }))));
    }

    // Create (existing = null) or edit one key. Tyk's PUT replaces the whole session, so an
    // edit starts from the stored session and changes only the form's fields.
    function openForm(existing) {
      clear(formSlot);
      const taken = new Set(keys.keys.map((k) => k.session.certificate));
      const certificate = el('select', { id: 'key-certificate', disabled: !!existing },
        existing ? el('option', { value: existing.session.certificate, text: `${certName(existing.session.certificate)} — ${existing.session.certificate}` })
          : [el('option', { value: '', text: 'Choose a certificate…' }),
            ...certList.map((c) => el('option', { value: c.id, disabled: taken.has(c.id),
              text: `${c.subject_cn || '(no CN)'} — ${c.id}${taken.has(c.id) ? ' (has a key)' : ''}` }))]);
      const s = existing ? existing.session : {};
      const alias = el('input', { id: 'key-alias', type: 'text', value: s.alias || '', spellcheck: 'false' });
      const never = el('input', { id: 'key-never', type: 'checkbox', checked: !(s.expires > 0) });
      const expires = el('input', { id: 'key-expires', type: 'datetime-local',
        value: s.expires > 0 ? localInput(s.expires) : '', disabled: !(s.expires > 0) });
      never.addEventListener('change', () => { expires.disabled = never.checked; });
      const inactive = el('input', { id: 'key-inactive', type: 'checkbox', checked: !!s.is_inactive });
      const current = Object.keys(s.access_rights || {});
      const known = [...new Set([...gateApis, ...current])].sort();
      const boxes = known.map((id) => el('label', { class: 'inline' },
        el('input', { type: 'checkbox', class: 'key-api', value: id, checked: current.includes(id) }), id));
      const extra = el('input', { id: 'key-apis-extra', type: 'text', placeholder: 'other API IDs, comma-separated',
        spellcheck: 'false' });
      const result = el('p', { id: 'key-result', class: 'message', role: 'status' });
      const save = el('button', { id: 'key-save', class: 'primary', type: 'button', text: existing ? 'Save key' : 'Create key' });
      save.addEventListener('click', async () => {
        setMessage(result, '');
        if (!certificate.value) {
          setMessage(result, 'Choose the certificate the key is for.', 'error');
          return;
        }
        let expiresAt = 0;
        if (!never.checked) {
          expiresAt = Math.floor(Date.parse(expires.value) / 1000);
          if (!expires.value || Number.isNaN(expiresAt)) {
            setMessage(result, 'Choose an expiry date, or tick "never".', 'error');
            return;
          }
        }
        const apis = [...boxes.map((b) => b.querySelector('input')).filter((b) => b.checked).map((b) => b.value),
          ...extra.value.split(',').map((v) => v.trim()).filter(Boolean)];
        const rights = {};
        for (const id of apis) {
          // An API that stays keeps its stored access settings (versions, limits, …).
          rights[id] = (s.access_rights && s.access_rights[id]) || { api_id: id, api_name: '', versions: [] };
        }
        const body = existing ? JSON.parse(JSON.stringify(existing.session)) : {};
        body.certificate = certificate.value;
        if (!existing && session.mode === 'admin') body.org_id = orgOf(certificate.value);
        body.alias = alias.value.trim();
        body.expires = expiresAt;
        body.is_inactive = inactive.checked;
        body.access_rights = rights;
        save.disabled = true;
        const r = existing ? await api().updateKey(existing.key, body) : await api().createKey(body);
        save.disabled = false;
        if (!r.ok) {
          setMessage(result, r.message, 'error');
          return;
        }
        renderPage();
      });
      append(formSlot, [el('section', { class: 'panel', id: 'key-form' },
        el('h3', { text: existing ? `Edit key ${existing.key}` : 'New certificate key' }),
        el('label', { for: 'key-certificate', text: 'Certificate (the key is its ID)' }), certificate,
        el('label', { for: 'key-alias', text: 'Alias' }), alias,
        el('label', { text: 'Expires' }),
        el('div', { class: 'row' }, expires, el('label', { class: 'inline' }, never, 'never')),
        el('label', { class: 'inline' }, inactive, 'inactive (the gate answers 403 "Key is inactive")'),
        el('fieldset', { id: 'key-apis' }, el('legend', { text: 'Access rights' }),
          boxes.length ? boxes : el('p', { class: 'muted', text: gate.known ? 'The gate names no API.' : 'No gate known: type the API IDs below.' }),
          extra),
        el('div', { class: 'row' }, save, el('button', { type: 'button', text: 'Cancel', onclick: () => clear(formSlot) })),
        result)]);
      (existing ? alias : certificate).focus();
    }
  }

  function localInput(seconds) {
    const d = new Date(seconds * 1000);
    const pad = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  // ---- expiry timeline ----

  async function renderTimeline(root) {
    const body = el('div', { id: 'timeline' });
    append(root, [
      el('h2', { text: 'Expiry timeline' }),
      el('p', { class: 'muted', text: `Every certificate the gate uses, by role, over the next ${TIMELINE_DAYS} days. Expired ones sit at the left edge.` }),
      body,
    ]);
    const gate = await gateInventory();
    if (!gate.known) {
      body.append(el('p', { class: 'empty', id: 'timeline-empty', text: gate.message }));
      return;
    }
    if (gate.rows.length === 0) {
      body.append(el('p', { class: 'empty', id: 'timeline-empty',
        text: 'No gate known, or the gate uses no certificate: start serve with --gate FILE (or run render) so the shim knows the gate.' }));
      return;
    }
    body.append(el('div', { class: 'legend' },
      el('span', { class: 'ok', text: 'ok' }),
      el('span', { class: 'expiring', text: `expiring (under ${gate.warning} days)` }),
      el('span', { class: 'expired', text: 'expired' })));
    body.append(timelineChart(gate.rows, gate.warning));
  }

  function timelineChart(rows, warning) {
    const width = 1180;
    const labelWidth = 330;
    const left = labelWidth + 20;
    const right = width - 110;
    const rowHeight = 24;
    const x = (days) => left + (Math.max(0, Math.min(days, TIMELINE_DAYS)) / TIMELINE_DAYS) * (right - left);
    const nodes = [];
    let y = 34;
    // Axis: today, then every 15 days; the warning threshold dashed.
    for (let d = 0; d <= TIMELINE_DAYS; d += 15) {
      nodes.push(svg('text', { x: x(d), y: 18, 'text-anchor': 'middle', class: 'tick', text: d === 0 ? 'today' : `+${d} d` }));
    }
    const ordered = [...ROLES, ...new Set(rows.map((r) => r.role).filter((r) => !ROLES.includes(r)))];
    const lanes = [];
    for (const role of ordered) {
      const mine = rows.filter((r) => r.role === role).sort((a, b) => (a.days_left - b.days_left) || String(a.cn).localeCompare(String(b.cn)));
      const top = y;
      const height = 24 + Math.max(1, mine.length) * rowHeight;
      lanes.push(svg('g', { class: 'lane', 'data-role': role },
        svg('rect', { class: 'lane-bg', x: 0, y: top, width, height: height - 4 }),
        svg('text', { class: 'lane', x: 10, y: top + 17, text: role })));
      let rowY = top + 24;
      if (mine.length === 0) {
        lanes.push(svg('text', { class: 'note', x: 24, y: rowY + 15, text: 'none' }));
      }
      for (const row of mine) {
        const days = Number.isFinite(row.days_left) ? row.days_left : daysLeft(row.not_after);
        const status = row.status || expiryClass(days, warning);
        const label = `${row.cn || '(no CN)'}${row.api_id ? ' · ' + row.api_id : ''}`;
        const end = days < 0 ? left + 6 : x(days);
        const bar = svg('g', { class: 'entry ' + status, 'data-id': row.id || '', 'data-role': role, 'data-api': row.api_id || '', 'data-status': status },
          svg('title', { text: `${row.cn || ''}\n${row.id || ''}\nrole ${row.role}${row.api_id ? ', API ' + row.api_id : ''}\nnot after ${formatDate(row.not_after)}${row.in_store === false ? '\n(not in the store)' : ''}` }),
          svg('text', { x: 24, y: rowY + 15, class: 'label', text: label.length > 44 ? label.slice(0, 43) + '…' : label }),
          svg('rect', { class: 'bar ' + status, x: days < 0 ? left - 6 : left, y: rowY + 4, width: Math.max(6, end - (days < 0 ? left - 6 : left)), height: 14, rx: 3 }),
          svg('text', { class: 'days ' + status, x: Math.min(end, right) + 8, y: rowY + 15,
            text: days < 0 ? `expired ${-days} d ago` : days > TIMELINE_DAYS ? `${days} d ›` : `${days} d` }));
        lanes.push(bar);
        rowY += rowHeight;
      }
      y = top + height;
    }
    const height = y + 6;
    nodes.push(svg('line', { class: 'grid', x1: left, x2: left, y1: 24, y2: height }));
    for (let d = 15; d <= TIMELINE_DAYS; d += 15) nodes.push(svg('line', { class: 'grid', x1: x(d), x2: x(d), y1: 24, y2: height }));
    const chart = svg('svg', { class: 'timeline', id: 'timeline-chart', width, height, viewBox: `0 0 ${width} ${height}`,
      role: 'img', 'aria-label': 'certificate expiry timeline' }, nodes, lanes);
    chart.append(svg('line', { class: 'today', x1: left, x2: left, y1: 24, y2: height }));
    chart.append(svg('line', { class: 'threshold', x1: x(warning), x2: x(warning), y1: 24, y2: height }));
    return chart;
  }

  // ---- start ----

  function renderPage() {
    render();
  }

  window.addEventListener('hashchange', render);
  document.addEventListener('DOMContentLoaded', render);
})();
