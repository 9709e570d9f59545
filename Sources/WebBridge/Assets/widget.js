/*! Switchboard live chat widget: <script src="https://HOST/widget.js" data-channel="website"></script>
 * data-mode="page" shows the chat full-page and open. Message data is only ever rendered as text. */
(function () {
  'use strict';
  var me = document.currentScript || [].slice.call(document.querySelectorAll('script[src*="widget.js"]')).pop();
  if (!me) return;
  var base = new URL(me.src, location.href).origin;
  var slug = me.getAttribute('data-channel') || 'website';
  var pageMode = me.getAttribute('data-mode') === 'page';
  var hostId = 'sbw-root-' + slug;
  if (document.getElementById(hostId)) return;
  var KEY = 'sbw:conversation:' + slug, BUTTON = 'Need help? Chat with us.';
  var chanPath = '/api/v1/livechat/' + encodeURIComponent(slug);

  function load(k) { try { return JSON.parse(localStorage.getItem(k)); } catch (e) { return null; } }
  function store(k, v) { try { if (v == null) localStorage.removeItem(k); else localStorage.setItem(k, JSON.stringify(v)); } catch (e) { /* storage off */ } }
  function visitorId() {
    var v = load('sbw:visitor');
    if (typeof v !== 'string' || !v) {
      v = [].map.call(crypto.getRandomValues(new Uint8Array(16)), function (b) { return (b + 256).toString(16).slice(1); }).join('');
      store('sbw:visitor', v);
    }
    return v;
  }
  // What the API takes: an address of at most 2048 characters (a longer one loses
  // its fragment, then its end) and a one-line title of at most 300.
  function clip(s, n) { var a = Array.from(s); return a.length > n ? a.slice(0, n).join('') : s; }
  function pageURL() {
    var u = location.href;
    if (Array.from(u).length > 2048) u = u.split('#')[0];
    return clip(u, 2048);
  }
  // Line breaks and other controls become spaces; noncharacters and halves of a cut
  // emoji (a lone surrogate), which are not text, go.
  function pageTitle() {
    var t = Array.from(document.title || '').map(function (c) {
      var p = c.codePointAt(0);
      if (p < 0x20 || (p >= 0x7f && p <= 0x9f) || p === 0x2028 || p === 0x2029) return ' ';
      if ((p >= 0xfdd0 && p <= 0xfdef) || (p & 0xfffe) === 0xfffe || (p >= 0xd800 && p <= 0xdfff)) return '';
      return c;
    }).join('').replace(/ {2,}/g, ' ').trim();
    return t ? clip(t, 300).trim() : undefined;
  }

  var C = '#0b6e69', MUTED = '#5b6675', LINE = '#e2e6ea';
  var CSS = ':host{all:initial}*{box-sizing:border-box}' +
    '.sbw-w,.sbw-launcher{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1c2430}' +
    '[hidden]{display:none!important}:focus-visible{outline:3px solid #f5a524;outline-offset:2px}' +
    '.sbw-launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;display:flex;align-items:center;gap:8px;border:0;border-radius:99px;padding:12px 18px;background:' + C + ';color:#fff;font-weight:600;cursor:pointer;box-shadow:0 6px 20px rgba(0,0,0,.22)}' +
    '.sbw-launcher svg{width:20px;height:20px;fill:currentColor}' +
    '.sbw-badge{background:#e5484d;border-radius:99px;padding:0 7px;font-size:12px;line-height:20px}' +
    '.sbw-w{position:fixed;right:20px;bottom:84px;z-index:2147483001;width:370px;height:min(580px,calc(100vh - 110px));display:flex;flex-direction:column;background:#fff;border-radius:14px;overflow:hidden;box-shadow:0 12px 40px rgba(0,0,0,.28)}' +
    '@media (max-width:480px){.sbw-w{inset:0;width:auto;height:auto;border-radius:0}}' +
    '.sbw-w.sbw-page{inset:0;width:auto;height:auto;border-radius:0;box-shadow:none}' +
    '.sbw-page .sbw-log,.sbw-page form,.sbw-page .sbw-ended{max-width:760px;margin:0 auto}' +
    '.sbw-head{display:flex;align-items:center;gap:8px;padding:12px 12px 12px 16px;background:' + C + ';color:#fff}' +
    '.sbw-titles{flex:1;min-width:0}h2{margin:0;font-size:16px}' +
    '.sbw-sub{font-size:12px;opacity:.9;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}' +
    '.sbw-icon{width:32px;height:32px;border:0;border-radius:8px;background:none;color:#fff;font-size:20px;cursor:pointer}.sbw-icon:hover{background:rgba(255,255,255,.18)}' +
    '.sbw-body{flex:1;overflow-y:auto;padding:14px 14px 6px;background:#f4f6f8}' +
    '.sbw-log{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:6px}' +
    '.sbw-msg{display:flex;flex-direction:column;align-items:flex-start;max-width:82%}' +
    '.sbw-visitor{align-self:flex-end;align-items:flex-end}' +
    '.sbw-author{font-size:12px;color:' + MUTED + ';margin:4px 4px 2px}' +
    '.sbw-bubble{padding:8px 12px;border-radius:14px 14px 14px 4px;background:#fff;border:1px solid ' + LINE + ';white-space:pre-wrap;overflow-wrap:anywhere}' +
    '.sbw-visitor .sbw-bubble{background:' + C + ';border-color:' + C + ';color:#fff;border-radius:14px 14px 4px 14px}' +
    '.sbw-bot .sbw-bubble{background:#eef2ff}.sbw-pending .sbw-bubble{opacity:.6}' +
    '.sbw-failed .sbw-bubble{background:#fff;color:#b4232a;border-color:#e5484d}' +
    '.sbw-note{font-size:12px;color:#b4232a;margin:2px 4px}.sbw-note button{font:inherit;color:inherit;text-decoration:underline;background:none;border:0;padding:0;cursor:pointer}' +
    '.sbw-system{align-self:center;max-width:90%;font-size:12px;color:' + MUTED + ';text-align:center}' +
    '.sbw-typing,.sbw-status{display:flex;align-items:center;gap:8px;font-size:12px;color:' + MUTED + ';padding:8px 4px}' +
    '.sbw-dots i{display:inline-block;width:6px;height:6px;margin-right:3px;border-radius:50%;background:#8a94a3;animation:sbw-b 1.2s infinite}' +
    '.sbw-dots i:nth-child(2){animation-delay:.15s}.sbw-dots i:nth-child(3){animation-delay:.3s}' +
    '@keyframes sbw-b{30%{transform:translateY(-4px)}60%{transform:none}}@media (prefers-reduced-motion:reduce){.sbw-dots i{animation:none}}' +
    '.sbw-status{justify-content:center;background:#fff7e6;color:#7a4d00;border-radius:8px;margin:8px 0 4px}' +
    '.sbw-foot{padding:10px 12px 12px;border-top:1px solid ' + LINE + ';background:#fff}' +
    'label{display:block;font-size:12px;color:' + MUTED + ';margin-bottom:8px}label input{display:block;width:100%;margin-top:3px}' +
    '.sbw-row{display:flex;gap:8px;align-items:flex-end;justify-content:center}' +
    'input,textarea{font:inherit;color:inherit;border:1px solid #c9d0d8;border-radius:10px;padding:8px 10px}' +
    'textarea{flex:1;resize:none;min-height:40px;max-height:120px}' +
    '.sbw-btn{font:inherit;font-weight:600;border:0;border-radius:10px;padding:9px 14px;background:' + C + ';color:#fff;cursor:pointer}' +
    '.sbw-alt{background:#e9edf1;color:#1c2430}.sbw-danger{background:#c62a2f}' +
    '.sbw-ended{text-align:center}.sbw-ended p{margin:0 0 10px}.sbw-ended .sbw-row{margin-bottom:10px}' +
    '.sbw-rate{font-size:12px;font-weight:400;padding:5px 10px}.sbw-rate[aria-pressed=true]{background:' + C + ';color:#fff}' +
    '.sbw-confirm{position:absolute;inset:0;display:flex;align-items:center;justify-content:center;background:rgba(20,28,38,.45);padding:16px}' +
    '.sbw-confirm>div{background:#fff;border-radius:12px;padding:18px;max-width:300px;text-align:center}.sbw-confirm p{margin:0 0 14px}';

  // An element; attributes, `on…` listeners, `text`; children (strings become text nodes, arrays are spread).
  function h(tag, attrs) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (k === 'class') el.className = v.replace(/(\S+)/g, 'sbw-$1');
      else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
      else if (k === 'text') el.textContent = v;
      else if (v !== false && v != null) el.setAttribute(k, v === true ? '' : v);
    });
    [].slice.call(arguments, 2).forEach(function add(kid) {
      if (Array.isArray(kid)) kid.forEach(add); else if (kid != null) el.append(kid);
    });
    return el;
  }
  function btn(cls, text, onclick, attrs) {
    return h('button', Object.assign({ class: cls, type: 'button', text: text, onclick: onclick }, attrs));
  }

  // ---- state
  var info = null;   // the channel: {name, welcome, button, available}
  var conv = null;   // the stored conversation: {id, token, lastId, waiting, operator, open, closed}
  var ended = false, seen = new Set(), ws = null, wsTimer = 0, wsAttempt = 0, typingTimer = 0, lastTyping = 0;
  var creating = null, unread = 0, shadow = null, endedConv = null, reported = '';

  // ---- DOM
  var svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg'), path = document.createElementNS(svg.namespaceURI, 'path');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  path.setAttribute('d', 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z');
  svg.append(path);
  var launcherText = h('span', { text: BUTTON }), badge = h('span', { class: 'badge', hidden: true });
  var launcher = h('button', { class: 'launcher', type: 'button', 'aria-haspopup': 'dialog', 'aria-expanded': 'false', hidden: true,
    onclick: function () { if (win.hidden) open(); else close(); } }, svg, launcherText, badge);
  var title = h('h2', { text: 'Live chat' }), sub = h('div', { class: 'sub' });
  var minBtn = btn('icon', '\u2013', close, { 'aria-label': 'Minimize chat', title: 'Minimize', hidden: pageMode });
  var endBtn = btn('icon', '\u00d7', askEnd, { 'aria-label': 'End conversation', title: 'End conversation', hidden: true });
  var log = h('ol', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': 'Messages' });
  var typingText = h('span');
  var typing = h('div', { class: 'typing', hidden: true }, h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')), typingText);
  var status = h('div', { class: 'status', role: 'status', hidden: true, text: 'Waiting for an operator\u2026' });
  var body = h('div', { class: 'body', tabindex: '0', 'aria-label': 'Conversation' }, log, typing, status);
  var nameInput = h('input', { type: 'text', name: 'name', autocomplete: 'name', maxlength: '100' });
  var nameField = h('label', {}, 'Your name (optional)', nameInput);
  var textarea = h('textarea', { rows: '1', name: 'message', maxlength: '4000', placeholder: 'Type your message\u2026', 'aria-label': 'Message',
    oninput: onInput, onkeydown: function (e) { if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); } } });
  var composer = h('form', { onsubmit: function (e) { e.preventDefault(); submit(); } },
    nameField, h('div', { class: 'row' }, textarea, h('button', { class: 'btn', type: 'submit', text: 'Send', 'aria-label': 'Send message' })));
  var rateButtons = [[1, 'Poor'], [3, 'Okay'], [5, 'Great']].map(function (r) {
    return btn('btn alt rate', r[1], function () { rate(r[0]); }, { 'aria-pressed': 'false', value: r[0] });
  });
  var newBtn = btn('btn', 'Start a new conversation', startOver);
  var endedBox = h('div', { class: 'ended', hidden: true }, h('p', { text: 'This conversation has ended.' }),
    h('div', { class: 'row', role: 'group', 'aria-label': 'Rate this conversation' }, rateButtons), newBtn);
  var confirmNo = btn('btn alt', 'Cancel', cancelEnd);
  var confirmBox = h('div', { class: 'confirm', hidden: true }, h('div', { role: 'alertdialog', 'aria-label': 'End this conversation?' },
    h('p', { text: 'End this conversation? The operator will be told.' }),
    h('div', { class: 'row' }, confirmNo, btn('btn danger', 'End conversation', endConversation))));
  var win = h('div', { class: 'w' + (pageMode ? ' page' : ''), role: 'dialog', 'aria-label': 'Live chat', hidden: true, onkeydown: onWindowKey },
    h('div', { class: 'head' }, h('div', { class: 'titles' }, title, sub), minBtn, endBtn), body,
    h('div', { class: 'foot' }, composer, endedBox), confirmBox);

  // ---- HTTP: resolves {status, ok, data}; rejects only on network errors
  function api(method, p, payload, token) {
    var headers = { Accept: 'application/json' };
    if (payload) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = 'Bearer ' + token;
    return fetch(base + p, { method: method, headers: headers, body: payload ? JSON.stringify(payload) : undefined }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) { return { status: r.status, ok: r.ok, data: data || {} }; });
    });
  }
  function convPath(c, suffix) { return '/api/v1/conversations/' + encodeURIComponent(c.id) + suffix; }
  function gone(s) { return s === 401 || s === 404 || s === 410; }
  function save() { if (conv) store(KEY, conv); }

  // ---- view
  function refresh() {
    var active = !!conv && !ended, name = (info && info.name) || 'Live chat';
    title.textContent = name;
    win.setAttribute('aria-label', 'Live chat: ' + name);
    launcherText.textContent = (info && info.button) || BUTTON;
    status.hidden = !(active && conv.waiting);
    sub.textContent = ended ? 'Conversation ended'
      : active && conv.operator && !conv.waiting ? 'Chatting with ' + conv.operator
      : active ? 'Waiting for an operator\u2026'
      : info && !info.available ? 'We\u2019ll answer as soon as someone is available' : 'We typically reply in a few minutes';
    endBtn.hidden = !active;
    nameField.hidden = !!conv;
    composer.hidden = ended;
    endedBox.hidden = !ended;
    badge.hidden = !unread;
    badge.textContent = unread || '';
    badge.setAttribute('aria-label', unread + ' unread');
  }
  function scrollDown() { body.scrollTop = body.scrollHeight; }
  function timeOf(at) { var d = new Date(at); return isNaN(d) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }); }

  function bubble(kind, name, text, at) {
    if (['visitor', 'operator', 'bot'].indexOf(kind) < 0) return h('li', { class: 'msg system', text: text });
    var who = kind === 'visitor' ? 'You' : name || 'Operator', prev = log.lastElementChild;
    var li = h('li', { class: 'msg ' + kind, title: at ? timeOf(at) : null, 'data-author': kind + ':' + who });
    if (!prev || prev.getAttribute('data-author') !== kind + ':' + who) li.append(h('div', { class: 'author', text: who }));
    li.append(h('div', { class: 'bubble', text: text }));
    return li;
  }
  // Puts a stored message in id order, before those still being sent.
  function place(li, id) {
    li.dataset.id = id;
    var n = log.lastElementChild;
    while (n && (n.dataset.id ? Number(n.dataset.id) > id : n.sendText != null)) n = n.previousElementSibling;
    log.insertBefore(li, n ? n.nextSibling : log.firstChild);
  }
  function system(text) { log.append(bubble('system', '', text)); scrollDown(); }

  function render(m, live) {
    var id = Number(m && m.id), a = (m && m.author) || {};
    if (!id || seen.has(id)) return;
    seen.add(id);
    if (conv && id > conv.lastId) { conv.lastId = id; save(); }
    var text = String(m.text == null ? '' : m.text);
    if (a.kind === 'visitor') {
      // Our own message, echoed by the server: it is the bubble still being sent.
      var mine = [].filter.call(log.querySelectorAll('.sbw-pending'), function (p) { return p.sendText === text.trim(); })[0];
      if (mine) { mine.classList.remove('sbw-pending'); place(mine, id); return; }
    } else if (a.kind !== 'system') {
      hideTyping();
      if (live && win.hidden) { unread++; refresh(); }
    }
    place(bubble(a.kind, a.name, text, m.at), id);
    scrollDown();
  }

  function showTyping(name) {
    typingText.textContent = (name || 'The operator') + ' is typing\u2026';
    typing.hidden = false;
    scrollDown();
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, 6000);
  }
  function hideTyping() { clearTimeout(typingTimer); typing.hidden = true; }

  // Before the first message: the channel's welcome, shown locally.
  function preview() {
    log.textContent = '';
    seen.clear();
    if (!info) return;
    if (info.welcome) system(info.welcome);   // the server stores it as a system message
    if (!info.available) system('No one is available right now. Leave a message and we will answer as soon as we can.');
  }

  // ---- conversation
  function create() {
    creating = creating || api('POST', chanPath + '/conversations', {
      name: nameInput.value.trim() || undefined, page: pageURL(), title: pageTitle(), visitor: visitorId()
    }).then(function (r) {
      if (!r.ok) throw new Error(r.data.message || 'The chat is not available right now.');
      var d = r.data;
      conv = { id: d.id, token: d.token, lastId: 0, waiting: d.status === 'waiting', operator: d.operator && d.operator.name, open: !win.hidden };
      ended = false;
      reported = location.href;
      save();
      [].slice.call(log.children).forEach(function (n) { if (!n.dataset.id && n.sendText == null) n.remove(); });
      (d.messages || []).forEach(function (m) { render(m); });
      refresh();
      connect();
      return conv;
    }).finally(function () { creating = null; });
    return creating;
  }

  function submit() {
    var text = textarea.value.trim();
    if (!text || ended) return;
    textarea.value = '';
    grow();
    var li = bubble('visitor', '', text);
    li.sendText = text;
    log.append(li);
    scrollDown();
    deliver(li);
  }

  function deliver(li) {
    li.classList.remove('sbw-failed');
    li.classList.add('sbw-pending');
    var note = li.querySelector('.sbw-note');
    if (note) note.remove();
    (conv ? Promise.resolve(conv) : create()).then(function (c) {
      return api('POST', convPath(c, '/messages'), { text: li.sendText }, c.token);
    }).then(function (r) {
      if (r.ok) {
        var id = Number(r.data.id);
        if (seen.has(id) && !li.dataset.id) return li.remove();   // the socket was quicker
        seen.add(id);
        li.classList.remove('sbw-pending');
        li.title = timeOf(r.data.at);
        if (!li.dataset.id) place(li, id);
        if (id > conv.lastId) { conv.lastId = id; save(); }
      } else if (r.status === 409) { li.remove(); finish(); }
      else if (gone(r.status)) { li.remove(); lost(); }
      else fail(li, r.status === 429 ? 'Too many messages. Wait a moment, then retry.' : r.data.message || 'Not sent.');
    }).catch(function (e) { fail(li, e instanceof TypeError ? 'Not sent: no connection.' : e.message); });
  }

  function fail(li, why) {
    li.classList.remove('sbw-pending');
    li.classList.add('sbw-failed');
    li.append(h('div', { class: 'note' }, why + ' ', btn('', 'Retry', function () { deliver(li); })));
    scrollDown();
  }

  function onInput() {
    grow();
    if (ws && ws.readyState === 1 && textarea.value && Date.now() - lastTyping > 3000) {
      lastTyping = Date.now();
      ws.send(JSON.stringify({ type: 'typing' }));
    }
  }
  function grow() { textarea.style.height = 'auto'; textarea.style.height = Math.min(textarea.scrollHeight + 2, 120) + 'px'; }

  // Loads the pages of messages after the last one seen; resolves false when the conversation is gone.
  function catchUp() {
    var c = conv;
    if (!c) return Promise.resolve(false);
    return api('GET', convPath(c, '/messages?after=' + c.lastId), null, c.token).then(function (r) {
      if (c !== conv || gone(r.status)) return false;
      if (!r.ok) return true;
      var ms = r.data.messages || [];
      ms.forEach(function (m) { render(m); });
      return r.data.more && ms.length ? catchUp() : true;
    });
  }

  // Whether an operator is with the visitor now: the socket tells what happens while
  // it is open, not what happened while the page was away or the socket reconnected.
  var operatorEvents = 0;   // an operator event newer than a state answer wins over it
  function syncState() {
    var c = conv, seen = operatorEvents;
    if (!c || ended) return;
    api('GET', convPath(c, ''), null, c.token).then(function (r) {
      if (c !== conv || ended || !r.ok || seen !== operatorEvents) return;
      if (r.data.status === 'closed') return;   // the socket's `closed` event ends it, with the reason
      conv.waiting = r.data.status !== 'assigned';
      conv.operator = (r.data.operator && r.data.operator.name) || null;
      save();
      refresh();
    }, function () {});
  }

  function connect() {
    clearTimeout(wsTimer);
    if (!conv || ended || ws) return;
    var c = conv, openedAt = 0;
    var sock = ws = new WebSocket(base.replace(/^http/, 'ws') + convPath(c, '/events?token=' + encodeURIComponent(c.token) + '&after=' + c.lastId));
    sock.onopen = function () { openedAt = Date.now(); syncState(); };
    sock.onmessage = function (e) {
      var ev;
      try { ev = JSON.parse(e.data); } catch (err) { return; }
      if (c === conv && !ended) handle(ev);
    };
    sock.onclose = function () {
      if (ws === sock) ws = null;
      if (c !== conv || ended) return;
      if (openedAt && Date.now() - openedAt > 10000) wsAttempt = 0;
      // 1 s doubling to 30 s, with jitter (x0.75 to x1.25).
      var delay = Math.min(30000, 1000 * Math.pow(2, wsAttempt++)) * (0.75 + Math.random() / 2);
      // Catching up over HTTP also tells a revoked conversation from a network problem.
      catchUp().then(function (ok) {
        if (c !== conv || ended) return;
        if (ok) wsTimer = setTimeout(connect, delay); else lost();
      }, function () { if (c === conv) wsTimer = setTimeout(connect, delay); });
    };
  }

  function handle(ev) {
    var name = (ev.author && ev.author.name) || 'An operator';
    if (ev.type === 'message') render(ev, true);
    else if (ev.type === 'typing') { if (ev.active === false) hideTyping(); else showTyping(name); }
    else if (ev.type === 'operator_joined') {
      operatorEvents++;
      conv.waiting = false;
      conv.operator = name;
      save();
      refresh();
      system(name + ' joined');
    } else if (ev.type === 'operator_left') { operatorEvents++; hideTyping(); system(name + ' left'); syncState(); }
    else if (ev.type === 'closed') { if (ev.reason) system(String(ev.reason).replace(/^./, function (c) { return c.toUpperCase(); })); finish(); }
  }

  // Ended: the transcript stays; the composer gives way to a rating and "Start a new conversation".
  function finish(isGone) {
    if (ended) return;
    var hadFocus = !!shadow.activeElement;
    ended = true;
    hideTyping();
    clearTimeout(wsTimer);
    if (conv && !isGone) { conv.closed = true; endedConv = conv; save(); }
    if (ws) { var s = ws; ws = null; s.close(); }
    confirmBox.hidden = true;
    refresh();
    if (hadFocus && !win.hidden) newBtn.focus();
  }
  // 401/404/410: the server no longer knows this conversation or this token.
  function lost() { store(KEY, null); endedConv = null; system('This conversation is no longer available.'); finish(true); }

  function rate(value) {
    if (!endedConv) return;
    rateButtons.forEach(function (b) { b.setAttribute('aria-pressed', String(b.value === String(value))); });
    api('POST', convPath(endedConv, '/rating'), { rating: value }, endedConv.token).catch(function () {});
  }

  function startOver() {
    store(KEY, null);
    conv = endedConv = null;
    ended = false;
    unread = 0;
    rateButtons.forEach(function (b) { b.setAttribute('aria-pressed', 'false'); });
    preview();
    refresh();
    textarea.focus();
  }

  function askEnd() { confirmBox.hidden = false; confirmNo.focus(); }
  function cancelEnd() { confirmBox.hidden = true; endBtn.focus(); }
  function endConversation() {
    confirmBox.hidden = true;
    textarea.focus();
    if (!conv || ended) return;
    api('POST', convPath(conv, '/close'), {}, conv.token).then(function (r) {
      if (r.ok || r.status === 409) finish(); else if (gone(r.status)) lost(); else system('Could not end the conversation. Please try again.');
    }, function () { system('Could not end the conversation: no connection.'); });
  }

  function onWindowKey(e) {
    if (e.key !== 'Escape') return;
    if (!confirmBox.hidden) cancelEnd(); else if (!pageMode) close(); else return;
    e.stopPropagation();
  }

  function open(quiet) {
    if (!win.hidden) return;
    win.hidden = false;
    launcher.setAttribute('aria-expanded', 'true');
    unread = 0;
    if (conv) { conv.open = true; save(); }
    refresh();
    scrollDown();
    if (!quiet) (ended ? newBtn : textarea).focus();
  }
  function close() {
    if (pageMode || win.hidden) return;
    win.hidden = confirmBox.hidden = true;
    launcher.setAttribute('aria-expanded', 'false');
    if (conv) { conv.open = false; save(); }
    launcher.focus();
  }

  function reportPage() {
    if (!conv || ended || reported === location.href) return;
    reported = location.href;
    api('POST', convPath(conv, '/pages'), { url: pageURL(), title: pageTitle() }, conv.token)
      .then(function (r) { if (gone(r.status)) lost(); }, function () {});
  }

  // A stored open conversation: its messages, then the socket.
  function restore() {
    var s = load(KEY);
    if (!s || !s.id || !s.token || s.closed) return store(KEY, null);
    conv = { id: s.id, token: s.token, lastId: 0, waiting: !!s.waiting, operator: s.operator || null, open: !!s.open };
    return catchUp().then(function (ok) {
      if (!ok) { conv = null; store(KEY, null); preview(); return; }
      connect();
      reportPage();
      if (conv.open) open(true);
    }, connect).then(refresh);
  }

  function start() {
    var host = h('div', { id: hostId });
    shadow = host.attachShadow({ mode: 'open' });
    shadow.append(h('style', { text: CSS }), launcher, win);
    document.body.append(host);
    refresh();
    if (pageMode) open();
    var channel = api('GET', chanPath).then(function (r) {
      if (!r.ok) return false;
      info = r.data;
      if (pageMode && info.name) document.title = info.name + ' \u2014 live chat';
      if (!conv) preview();
      return true;
    }, function () { return false; });
    Promise.all([channel, restore()]).then(function (res) {
      if (res[0] || conv) launcher.hidden = pageMode;
      else if (pageMode) system('This chat is not available.');
      refresh();
    });
    window.addEventListener('popstate', reportPage);
    window.addEventListener('hashchange', reportPage);
    window.addEventListener('online', function () { if (conv && !ended && !ws) { wsAttempt = 0; connect(); } });
  }

  if (!window.SwitchboardWidget) window.SwitchboardWidget = { open: function () { open(); }, close: close };
  if (document.body) start(); else document.addEventListener('DOMContentLoaded', start);
})();
