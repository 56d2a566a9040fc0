// ondo's chat page. Plain JavaScript, no framework and no build step: the
// server embeds this file as is. It talks to the server's Ollama API and
// keeps conversations in localStorage.
//
// Model output is untrusted. It is rendered as Markdown with raw HTML
// escaped, sanitised by DOMPurify, stripped of every image that is not a
// data: URL, and shown under a Content-Security-Policy that allows no
// inline script and no remote fetches.

import { t, translate } from './i18n.js';

const $ = (sel) => document.querySelector(sel);

// ---- storage -----------------------------------------------------------

const STORE = 'ondo.conversations';
const CURRENT = 'ondo.current';
const LAST_MODEL = 'ondo.model';
const KEY = 'ondo.apiKey';

/** Option fields of the settings dialog, sent as Ollama options. */
const OPTION_FIELDS = [
  ['temperature', parseFloat],
  ['top_p', parseFloat],
  ['num_predict', (v) => parseInt(v, 10)],
  ['num_ctx', (v) => parseInt(v, 10)],
  ['seed', (v) => parseInt(v, 10)],
];

const state = {
  convs: loadConvs(),
  current: localStorage.getItem(CURRENT),
  models: [],
  loaded: new Set(),
  abort: null, // the AbortController of the answer being generated
  streaming: null, // {conv, msg, view} of that answer
};

function loadConvs() {
  try {
    const v = JSON.parse(localStorage.getItem(STORE) || '[]');
    return Array.isArray(v) ? v.filter((c) => c && typeof c.id === 'string' && Array.isArray(c.messages)) : [];
  } catch {
    return [];
  }
}

function saveConvs() {
  try {
    localStorage.setItem(STORE, JSON.stringify(state.convs));
    if (state.current) localStorage.setItem(CURRENT, state.current);
    else localStorage.removeItem(CURRENT);
  } catch (e) {
    announce(t('error', { error: e.message }));
  }
}

function currentConv() {
  return state.convs.find((c) => c.id === state.current) || null;
}

function newConv() {
  const c = {
    id: (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()),
    title: '',
    model: $('#model').value || localStorage.getItem(LAST_MODEL) || '',
    system: '',
    options: {},
    messages: [],
    updated: Date.now(),
  };
  state.convs.unshift(c);
  state.current = c.id;
  saveConvs();
  return c;
}

// ---- API ---------------------------------------------------------------

function apiKey() {
  return sessionStorage.getItem(KEY) || localStorage.getItem(KEY) || '';
}

class HTTPError extends Error {
  constructor(status, msg) {
    super(msg);
    this.status = status;
  }
}

/** api calls the server with the API key, throwing HTTPError on failure. */
async function api(path, { method = 'GET', body, signal } = {}) {
  const headers = {};
  const key = apiKey();
  if (key) headers.Authorization = 'Bearer ' + key;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(path, {
    method, headers, signal,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!resp.ok) {
    let msg = resp.statusText;
    try {
      const j = await resp.json();
      msg = typeof j.error === 'string' ? j.error : (j.error?.message || msg);
    } catch { /* not JSON */ }
    if (resp.status === 401) askKey();
    throw new HTTPError(resp.status, msg);
  }
  return resp;
}

/** ndjson yields each JSON line of a streaming response. */
async function* ndjson(resp) {
  const reader = resp.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) yield JSON.parse(line);
    }
  }
  buf += dec.decode();
  if (buf.trim()) yield JSON.parse(buf);
}

// ---- models ------------------------------------------------------------

async function refreshModels() {
  try {
    const [tags, ps] = await Promise.all([
      api('/api/tags').then((r) => r.json()),
      api('/api/ps').then((r) => r.json()),
    ]);
    state.models = (tags.models || []).map((m) => m.name).sort();
    state.loaded = new Set((ps.models || []).map((m) => m.name));
  } catch (e) {
    if (e.status !== 401) announce(t('error', { error: e.message }));
    return;
  }
  renderModels();
}

async function refreshLoaded() {
  try {
    const ps = await api('/api/ps').then((r) => r.json());
    state.loaded = new Set((ps.models || []).map((m) => m.name));
    renderModels();
  } catch { /* shown by the next refresh */ }
}

function renderModels() {
  const sel = $('#model');
  const conv = currentConv();
  const want = conv?.model || localStorage.getItem(LAST_MODEL) || '';
  sel.replaceChildren();
  if (state.models.length === 0) {
    sel.append(new Option(t('noModels'), ''));
  }
  for (const name of state.models) {
    const label = state.loaded.has(name) ? `${name} (${t('loaded')})` : name;
    sel.append(new Option(label, name, false, name === want));
  }
  if (!state.models.includes(want) && state.models.length > 0) {
    sel.value = state.models[0];
  }

  const list = $('#models');
  list.replaceChildren();
  for (const name of state.models) {
    const li = document.createElement('li');
    const label = document.createElement('span');
    label.className = 'model-name';
    label.textContent = name;
    li.append(label);
    if (state.loaded.has(name)) {
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = t('loaded');
      li.append(badge);
    }
    const del = button('×', () => deleteModel(name), 'icon-button small');
    del.setAttribute('aria-label', `${t('delete')}: ${name}`);
    li.append(del);
    list.append(li);
  }
}

async function deleteModel(name) {
  if (!(await ask(t('deleteModel', { name })))) return;
  try {
    await api('/api/delete', { method: 'DELETE', body: { model: name } });
    announce(t('deleted', { name }));
  } catch (e) {
    announce(t('error', { error: e.message }));
  }
  await refreshModels();
}

async function pullModel(name) {
  const box = $('#pull-status');
  const bar = $('#pull-progress');
  const text = $('#pull-text');
  const btn = $('#pull');
  box.hidden = false;
  btn.disabled = true;
  bar.removeAttribute('value'); // indeterminate until sizes come
  text.textContent = '';
  try {
    const resp = await api('/api/pull', { method: 'POST', body: { model: name, stream: true } });
    for await (const p of ndjson(resp)) {
      if (p.error) throw new Error(p.error);
      if (p.total > 0) {
        bar.value = Math.min(1, (p.completed || 0) / p.total);
        text.textContent = `${p.status} ${Math.floor(100 * bar.value)}%`;
      } else {
        text.textContent = p.status;
      }
    }
    bar.value = 1;
    text.textContent = t('pulled', { name });
    $('#pull-name').value = '';
  } catch (e) {
    text.textContent = t('pullFailed', { error: e.message });
  } finally {
    btn.disabled = false;
  }
  await refreshModels();
}

// ---- Markdown ----------------------------------------------------------

const escapeHTML = (s) => String(s).replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

let md = null;

function markdown() {
  if (md) return md;
  md = new window.marked.Marked({ gfm: true, breaks: false });
  md.use({
    renderer: {
      // Raw HTML in model output is shown as text, never parsed.
      html: ({ text }) => escapeHTML(text),
      code({ text, lang }) {
        const language = (lang || '').trim().split(/\s+/)[0].toLowerCase();
        let body = escapeHTML(text);
        if (language && window.hljs?.getLanguage(language)) {
          try {
            body = window.hljs.highlight(text, { language, ignoreIllegals: true }).value;
          } catch { /* leave it plain */ }
        }
        const cls = language ? ` language-${escapeHTML(language)}` : '';
        return `<pre><code class="hljs${cls}">${body}</code></pre>\n`;
      },
    },
  });
  return md;
}

const PURIFY = {
  FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'option', 'iframe', 'frame',
    'object', 'embed', 'video', 'audio', 'source', 'track', 'picture', 'svg', 'math', 'link', 'meta', 'base'],
  FORBID_ATTR: ['style', 'srcset', 'background', 'poster', 'action', 'formaction', 'xlink:href', 'ping'],
  ALLOW_DATA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};

/** render turns untrusted Markdown into a safe DOM fragment. */
function render(text) {
  let html;
  try {
    html = markdown().parse(text);
  } catch {
    html = `<p>${escapeHTML(text)}</p>`;
  }
  const frag = window.DOMPurify.sanitize(html, PURIFY);
  // DOMPurify parsed it in an inert document: nothing has loaded yet.
  // Images are dropped unless they are data: URLs; a remote image would
  // tell its host that the answer was read.
  for (const img of frag.querySelectorAll('img')) {
    const src = img.getAttribute('src') || '';
    if (/^data:image\/(png|jpeg|gif|webp);/i.test(src)) continue;
    const span = document.createElement('span');
    span.className = 'blocked-image';
    span.textContent = t('imageBlocked', { alt: img.getAttribute('alt') || '' });
    img.replaceWith(span);
  }
  for (const a of frag.querySelectorAll('a[href]')) {
    a.target = '_blank';
    a.rel = 'noopener noreferrer nofollow';
  }
  for (const table of frag.querySelectorAll('table')) {
    const wrap = document.createElement('div');
    wrap.className = 'table-wrap';
    wrap.tabIndex = 0; // scrollable by keyboard
    table.replaceWith(wrap);
    wrap.append(table);
  }
  for (const pre of frag.querySelectorAll('pre')) {
    const wrap = document.createElement('div');
    wrap.className = 'code-wrap';
    pre.replaceWith(wrap);
    const copy = button(t('copyCode'), () => copyText(pre.textContent, copy), 'copy-code small');
    wrap.append(copy, pre);
  }
  return frag;
}

// ---- clipboard and announcements --------------------------------------

async function copyText(text, btn) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Not a secure context (http to another machine): the old way.
    const ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.className = 'offscreen';
    document.body.append(ta);
    ta.select();
    document.execCommand('copy');
    ta.remove();
  }
  if (btn) {
    const old = btn.textContent;
    btn.textContent = t('copied');
    setTimeout(() => { btn.textContent = old; }, 1200);
  }
  announce(t('copied'));
}

function announce(text) {
  const s = $('#status');
  s.textContent = '';
  setTimeout(() => { s.textContent = text; }, 30);
}

function button(label, onClick, cls = '') {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  if (cls) b.className = cls;
  b.addEventListener('click', onClick);
  return b;
}

// ---- conversations list -------------------------------------------------

function convTitle(c) {
  return c.title || t('untitled');
}

function renderConvList() {
  const q = $('#search').value.trim().toLowerCase();
  const list = $('#conversations');
  list.replaceChildren();
  const shown = state.convs.filter((c) => !q || convTitle(c).toLowerCase().includes(q) ||
    c.messages.some((m) => (m.content || '').toLowerCase().includes(q)));
  if (shown.length === 0) {
    const li = document.createElement('li');
    li.className = 'muted';
    li.textContent = q ? t('noMatches') : t('noConversations');
    list.append(li);
  }
  for (const c of shown) {
    const li = document.createElement('li');
    li.dataset.id = c.id;
    const open = button(convTitle(c), () => { openConv(c.id); closeSidebar(); }, 'conv-open');
    if (c.id === state.current) open.setAttribute('aria-current', 'true');
    const ren = button('✎', () => renameConv(c), 'icon-button small conv-rename');
    ren.setAttribute('aria-label', `${t('rename')}: ${convTitle(c)}`);
    const del = button('×', () => deleteConv(c), 'icon-button small conv-delete');
    del.setAttribute('aria-label', `${t('delete')}: ${convTitle(c)}`);
    li.append(open, ren, del);
    list.append(li);
  }
}

function openConv(id) {
  if (state.streaming) stop();
  state.current = id;
  saveConvs();
  renderAll();
}

async function renameConv(c) {
  const name = await ask(t('renameConv', { title: convTitle(c) }), { label: t('renameTo'), value: convTitle(c) });
  if (name === null || name === false) return;
  c.title = name.trim().slice(0, 200);
  saveConvs();
  renderConvList();
  renderTitle();
}

async function deleteConv(c) {
  if (!(await ask(t('deleteConv', { title: convTitle(c) })))) return;
  if (state.streaming?.conv === c) stop();
  state.convs = state.convs.filter((x) => x !== c);
  if (state.current === c.id) state.current = state.convs[0]?.id || null;
  saveConvs();
  renderAll();
}

// ---- messages -----------------------------------------------------------

function renderTitle() {
  const c = currentConv();
  $('#conv-title').textContent = c ? convTitle(c) : 'ondo';
  document.title = c && c.title ? `${c.title} – ondo` : 'ondo';
}

function renderAll() {
  renderConvList();
  renderModels();
  renderMessages();
  renderTitle();
}

function renderMessages() {
  const box = $('#messages');
  box.replaceChildren();
  const c = currentConv();
  const msgs = c ? c.messages : [];
  $('#empty').hidden = msgs.length > 0;
  msgs.forEach((m, i) => box.append(messageView(c, m, i).el));
  box.scrollTop = box.scrollHeight;
}

/**
 * messageView builds one message's element. Its parts are updated in place
 * while an answer streams, so that an opened reasoning fold stays open.
 */
function messageView(conv, m, index) {
  const el = document.createElement('article');
  el.className = `msg ${m.role}`;
  el.setAttribute('aria-label', m.role === 'user' ? t('you') : t('assistant'));
  const who = document.createElement('h3');
  who.className = 'who';
  who.textContent = m.role === 'user' ? t('you') : t('assistant');
  el.append(who);

  const v = { el, thinkBox: null, thinkText: null, tools: null, body: null, stats: null };
  if (m.role === 'assistant') {
    const details = document.createElement('details');
    details.className = 'thinking';
    const summary = document.createElement('summary');
    summary.textContent = t('reasoning');
    const think = document.createElement('div');
    think.className = 'thinking-text';
    details.append(summary, think);
    details.hidden = true;
    v.thinkBox = details;
    v.thinkText = think;
    v.tools = document.createElement('div');
    v.tools.className = 'tool-calls';
    v.tools.setAttribute('role', 'group');
    v.tools.setAttribute('aria-label', t('toolCalls'));
    v.tools.hidden = true;
    el.append(details, v.tools);
  }
  v.body = document.createElement('div');
  v.body.className = m.role === 'user' ? 'body plain' : 'body markdown';
  el.append(v.body);
  v.stats = document.createElement('p');
  v.stats.className = 'stats';
  el.append(v.stats);

  const actions = document.createElement('div');
  actions.className = 'actions';
  const copy = button(t('copy'), () => copyText(m.content || '', copy), 'small msg-copy');
  actions.append(copy);
  if (m.role === 'user') {
    actions.append(button(t('edit'), () => editMessage(conv, index, v), 'small msg-edit'));
  } else if (index === conv.messages.length - 1) {
    actions.append(button(t('regenerate'), () => regenerate(conv), 'small msg-regenerate'));
  }
  el.append(actions);
  v.actions = actions;
  updateView(v, m);
  return v;
}

function updateView(v, m) {
  if (m.role === 'user') {
    v.body.textContent = m.content;
  } else {
    v.body.replaceChildren(render(m.content || ''));
    if (m.thinking) {
      v.thinkBox.hidden = false;
      v.thinkText.textContent = m.thinking.trim();
    }
    if (m.tool_calls?.length) {
      v.tools.hidden = false;
      v.tools.replaceChildren();
      for (const call of m.tool_calls) {
        const fn = call.function || {};
        const box = document.createElement('div');
        box.className = 'tool-call';
        const name = document.createElement('p');
        name.className = 'tool-name';
        name.textContent = `${t('toolCalls')}: ${fn.name || '?'}`;
        const args = document.createElement('pre');
        args.textContent = JSON.stringify(fn.arguments ?? {}, null, 2);
        box.append(name, args);
        v.tools.append(box);
      }
    }
  }
  const notes = [];
  if (m.stats) {
    const secs = m.stats.eval_duration / 1e9;
    const tps = secs > 0 ? (m.stats.eval_count / secs).toFixed(1) : '–';
    notes.push(t('stats', { prompt: m.stats.prompt_eval_count ?? 0, eval: m.stats.eval_count ?? 0, tps }));
  }
  if (m.stopped) notes.push(t('stoppedNote'));
  v.stats.textContent = notes.join(' ');
  v.stats.hidden = notes.length === 0;
  let err = v.el.querySelector('.error');
  if (m.error) {
    if (!err) {
      err = document.createElement('p');
      err.className = 'error';
      err.setAttribute('role', 'alert');
      v.stats.before(err);
    }
    err.textContent = t('error', { error: m.error });
  } else if (err) {
    err.remove();
  }
}

function editMessage(conv, index, v) {
  if (state.streaming) return;
  const m = conv.messages[index];
  const form = document.createElement('form');
  form.className = 'edit-form';
  const label = document.createElement('label');
  label.className = 'visually-hidden';
  label.textContent = t('editMessage');
  const ta = document.createElement('textarea');
  ta.value = m.content;
  ta.rows = Math.min(12, Math.max(2, m.content.split('\n').length));
  ta.id = `edit-${index}`;
  label.htmlFor = ta.id;
  const ok = document.createElement('button');
  ok.type = 'submit';
  ok.className = 'primary small';
  ok.textContent = t('saveAndSend');
  const cancel = button(t('cancel'), () => renderMessages(), 'small');
  const row = document.createElement('div');
  row.className = 'actions';
  row.append(cancel, ok);
  form.append(label, ta, row);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = ta.value.trim();
    if (!text) return;
    conv.messages = conv.messages.slice(0, index);
    send(text);
  });
  ta.addEventListener('keydown', (e) => {
    if (isSendKey(e)) {
      e.preventDefault();
      form.requestSubmit();
    } else if (e.key === 'Escape') {
      renderMessages();
    }
  });
  v.body.replaceWith(form);
  v.actions.hidden = true;
  ta.focus();
}

function regenerate(conv) {
  if (state.streaming) return;
  while (conv.messages.length && conv.messages.at(-1).role === 'assistant') conv.messages.pop();
  if (!conv.messages.length) return;
  saveConvs();
  generate(conv);
}

// ---- sending and streaming ----------------------------------------------

/**
 * isSendKey: Enter without Shift, and not the Enter that confirms an IME
 * composition (Korean, Japanese, Chinese): during composition browsers set
 * isComposing, and some (Safari) send keyCode 229 for that Enter instead.
 */
function isSendKey(e) {
  return e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229;
}

function send(text) {
  let conv = currentConv();
  if (!conv) conv = newConv();
  const model = $('#model').value;
  if (!model) {
    announce(t('noModelChosen'));
    return false;
  }
  conv.model = model;
  conv.messages.push({ role: 'user', content: text });
  if (!conv.title) conv.title = text.replace(/\s+/g, ' ').slice(0, 60);
  conv.updated = Date.now();
  // The conversation moves to the top of the list.
  state.convs = [conv, ...state.convs.filter((c) => c !== conv)];
  saveConvs();
  generate(conv);
  return true;
}

function requestOptions(conv) {
  const out = {};
  for (const [k] of OPTION_FIELDS) {
    const v = conv.options?.[k];
    if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  }
  return out;
}

function historyFor(conv) {
  const msgs = [];
  if (conv.system?.trim()) msgs.push({ role: 'system', content: conv.system });
  for (const m of conv.messages) {
    const out = { role: m.role, content: m.content || '' };
    if (m.tool_calls?.length) out.tool_calls = m.tool_calls;
    msgs.push(out);
  }
  return msgs;
}

async function generate(conv) {
  const body = { model: conv.model, messages: historyFor(conv), stream: true };
  const options = requestOptions(conv);
  if (Object.keys(options).length) body.options = options;
  if (conv.tools?.length) body.tools = conv.tools;

  const msg = { role: 'assistant', content: '', thinking: '', tool_calls: [] };
  conv.messages.push(msg);
  renderAll();
  const view = messageView(conv, msg, conv.messages.length - 1);
  $('#messages').lastElementChild.replaceWith(view.el);
  view.el.setAttribute('aria-busy', 'true');
  view.actions.hidden = true;

  const ctl = new AbortController();
  state.abort = ctl;
  state.streaming = { conv, msg, view };
  setBusy(true);
  announce(t('generating'));

  let pending = false;
  const paint = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      updateView(view, msg);
      const box = $('#messages');
      box.scrollTop = box.scrollHeight;
    });
  };

  try {
    const resp = await api('/api/chat', { method: 'POST', body, signal: ctl.signal });
    for await (const chunk of ndjson(resp)) {
      if (chunk.error) throw new Error(chunk.error);
      const m = chunk.message || {};
      if (m.content) msg.content += m.content;
      if (m.thinking) msg.thinking += m.thinking;
      if (m.tool_calls?.length) msg.tool_calls.push(...m.tool_calls);
      if (chunk.done) {
        msg.stats = {
          prompt_eval_count: chunk.prompt_eval_count,
          eval_count: chunk.eval_count,
          eval_duration: chunk.eval_duration,
        };
      }
      paint();
    }
    announce(t('done'));
  } catch (e) {
    if (e.name === 'AbortError') {
      msg.stopped = true;
      announce(t('stopped'));
    } else {
      msg.error = e.message;
      announce(t('error', { error: e.message }));
    }
  } finally {
    if (!msg.thinking) delete msg.thinking;
    if (!msg.tool_calls.length) delete msg.tool_calls;
    state.abort = null;
    state.streaming = null;
    conv.updated = Date.now();
    saveConvs();
    setBusy(false);
    if (state.current === conv.id) renderMessages();
    refreshLoaded();
  }
}

function stop() {
  state.abort?.abort();
}

function setBusy(busy) {
  $('#send').hidden = busy;
  $('#stop').hidden = !busy;
  if (!busy && document.activeElement === document.body) $('#prompt').focus();
}

// ---- dialogs --------------------------------------------------------------

/**
 * ask shows a confirmation (resolving true or false) or, with opts.label, a
 * question with a text field (resolving the text, or null).
 */
function ask(text, opts = {}) {
  const dlg = $('#ask');
  if (dlg.open) return Promise.resolve(opts.label ? null : false);
  $('#ask-text').textContent = text;
  const field = $('#ask-field');
  const input = $('#ask-input');
  field.hidden = !opts.label;
  $('#ask-label').textContent = opts.label || '';
  input.value = opts.value || '';
  $('#ask-ok').textContent = opts.label ? t('save') : t('ok');
  return new Promise((resolve) => {
    const done = (v) => {
      $('#ask-form').removeEventListener('submit', onSubmit);
      $('#ask-cancel').removeEventListener('click', onCancel);
      dlg.removeEventListener('cancel', onCancel);
      if (dlg.open) dlg.close();
      resolve(v);
    };
    const onSubmit = (e) => { e.preventDefault(); done(opts.label ? input.value : true); };
    const onCancel = (e) => { e.preventDefault(); done(opts.label ? null : false); };
    $('#ask-form').addEventListener('submit', onSubmit);
    $('#ask-cancel').addEventListener('click', onCancel);
    dlg.addEventListener('cancel', onCancel);
    dlg.showModal();
    (opts.label ? input : $('#ask-cancel')).focus();
  });
}

function askKey() {
  const dlg = $('#key');
  if (dlg.open) return;
  $('#key-input').value = apiKey();
  $('#key-remember').checked = !!localStorage.getItem(KEY);
  dlg.showModal();
}

function openSettings() {
  let conv = currentConv();
  if (!conv) conv = newConv();
  $('#set-system').value = conv.system || '';
  for (const [k] of OPTION_FIELDS) {
    const v = conv.options?.[k];
    $(`#set-${k}`).value = typeof v === 'number' ? String(v) : '';
  }
  $('#set-tools').value = conv.tools?.length ? JSON.stringify(conv.tools, null, 2) : '';
  $('#settings-error').hidden = true;
  $('#settings').showModal();
}

/** saveSettings stores the dialog's settings; false when they are invalid. */
function saveSettings() {
  const conv = currentConv() || newConv();
  let tools = [];
  const rawTools = $('#set-tools').value.trim();
  if (rawTools) {
    try {
      tools = JSON.parse(rawTools);
      if (!Array.isArray(tools)) throw new Error('not an array');
    } catch (e) {
      const err = $('#settings-error');
      err.textContent = t('toolsInvalid', { error: e.message });
      err.hidden = false;
      $('#set-tools').focus();
      return false;
    }
  }
  conv.tools = tools;
  conv.system = $('#set-system').value;
  conv.options = {};
  for (const [k, parse] of OPTION_FIELDS) {
    const raw = $(`#set-${k}`).value.trim();
    if (raw === '') continue;
    const v = parse(raw);
    if (Number.isFinite(v)) conv.options[k] = v;
  }
  saveConvs();
  renderAll();
  return true;
}

// ---- layout -----------------------------------------------------------------

function closeSidebar() {
  document.body.classList.remove('sidebar-open');
  $('#menu').setAttribute('aria-expanded', 'false');
}

function toggleSidebar() {
  const open = document.body.classList.toggle('sidebar-open');
  $('#menu').setAttribute('aria-expanded', String(open));
  if (open) $('#new-chat').focus();
}

function autosize() {
  const ta = $('#prompt');
  ta.style.height = 'auto';
  ta.style.height = Math.min(ta.scrollHeight, 240) + 'px';
}

// ---- wiring -----------------------------------------------------------------

function init() {
  translate(document);

  $('#composer').addEventListener('submit', (e) => {
    e.preventDefault();
    if (state.streaming) return;
    const ta = $('#prompt');
    const text = ta.value.trim();
    if (!text) return;
    if (send(text)) {
      ta.value = '';
      autosize();
    }
  });
  $('#prompt').addEventListener('keydown', (e) => {
    if (isSendKey(e)) {
      e.preventDefault();
      $('#composer').requestSubmit();
    }
  });
  $('#prompt').addEventListener('input', autosize);
  $('#stop').addEventListener('click', stop);

  $('#new-chat').addEventListener('click', () => {
    if (state.streaming) stop();
    newConv();
    renderAll();
    closeSidebar();
    $('#prompt').focus();
  });
  $('#search').addEventListener('input', renderConvList);
  $('#model').addEventListener('change', () => {
    const name = $('#model').value;
    localStorage.setItem(LAST_MODEL, name);
    const conv = currentConv();
    if (conv) {
      conv.model = name;
      saveConvs();
    }
  });
  $('#menu').addEventListener('click', toggleSidebar);
  for (const el of [$('#scrim'), $('#drawer-close')]) {
    el.addEventListener('click', () => {
      closeSidebar();
      $('#menu').focus();
    });
  }
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && document.body.classList.contains('sidebar-open')) {
      closeSidebar();
      $('#menu').focus();
    }
  });

  $('#pull-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const name = $('#pull-name').value.trim();
    if (name) pullModel(name);
  });

  $('#settings-open').addEventListener('click', openSettings);
  $('#settings-form').addEventListener('submit', (e) => {
    e.preventDefault();
    if (saveSettings()) $('#settings').close();
  });
  $('#settings-cancel').addEventListener('click', () => $('#settings').close());

  $('#key-open').addEventListener('click', askKey);
  $('#key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const key = $('#key-input').value.trim();
    sessionStorage.removeItem(KEY);
    localStorage.removeItem(KEY);
    if (key) ($('#key-remember').checked ? localStorage : sessionStorage).setItem(KEY, key);
    $('#key').close();
    refreshModels();
  });
  $('#key-cancel').addEventListener('click', () => $('#key').close());

  if (state.current && !currentConv()) state.current = null;
  renderAll();
  refreshModels();
  $('#prompt').focus();
}

init();
