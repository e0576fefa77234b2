// Mongotron live viewer: plain JavaScript, no framework, no build step.
// The stream protocol and close codes are those of API.md.
'use strict';

(() => {
  const KEY_STORE = 'mongotron.key';
  const WATCH_STORE = 'mongotron.watch'; // {sub, after}: resume after a reload
  const MAX_ROWS = 500;
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_CAP_MS = 30000;
  const SUB_PAGES = 10; // up to 1,000 subscriptions in the list
  const FLAG_HELP = {
    zero_amount: 'zero amount: credits nothing; address poisoning sends zero',
    unverified_token: 'token not on the well-known list: anyone can deploy a token named USDT',
    third_party_spender: 'the signer is neither sender nor receiver (transferFrom by someone else)',
    lookalike: 'the counterparty looks like one of your addresses (same first and last four characters)',
  };
  const KINDS = ['trx_transfer', 'trc10_transfer', 'trc20_transfer', 'trc20_approval',
    'contract_log', 'contract_call', 'contract_create', 'stake', 'unstake',
    'withdraw_unstake', 'delegate_resource', 'undelegate_resource', 'vote',
    'reward_claim', 'permission_update', 'account_create', 'trx_internal_transfer',
    'trc10_internal_transfer'];
  const TRONSCAN = { mainnet: 'https://tronscan.org', shasta: 'https://shasta.tronscan.org', nile: 'https://nile.tronscan.org' };

  const $ = (id) => document.getElementById(id);
  const el = (tag, props, ...children) => {
    const e = document.createElement(tag);
    Object.assign(e, props || {});
    for (const c of children) e.append(c);
    return e;
  };

  // ---- storage: sessionStorage only, so the key dies with the tab and
  // never reaches a URL, a bookmark or the history.
  const store = {
    get(k) { try { return sessionStorage.getItem(k) || ''; } catch { return ''; } },
    set(k, v) { try { sessionStorage.setItem(k, v); } catch { /* private mode: memory only */ } },
    del(k) { try { sessionStorage.removeItem(k); } catch { /* ignore */ } },
  };
  let apiKey = store.get(KEY_STORE);

  class APIError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  async function api(method, path, body) {
    const init = {
      method, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
      headers: { Authorization: 'Bearer ' + apiKey, Accept: 'application/json' },
    };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(path, init);
    let data = null;
    if (resp.status !== 204) {
      try { data = await resp.json(); } catch { data = null; }
    }
    if (!resp.ok) {
      const e = data && data.error ? data.error : {};
      throw new APIError(resp.status, e.code || '', e.message || ('HTTP ' + resp.status));
    }
    return data;
  }

  // ---- connection state badge
  function setState(state, text) {
    const s = $('state');
    s.dataset.state = state;
    s.textContent = text;
  }

  // ---- formatting
  function short(addr) {
    return addr && addr.length > 14 ? addr.slice(0, 6) + '…' + addr.slice(-6) : (addr || '');
  }
  function addrSpan(addr) {
    return el('span', { textContent: addr ? short(addr) : '—', title: addr || '' });
  }
  function amountText(ev) {
    if (ev.amount === undefined || ev.amount === null || ev.amount === '') return '';
    const sym = ev.token && ev.token.symbol ? ' ' + ev.token.symbol : '';
    if (ev.amount_decimal) return ev.amount_decimal + sym;
    // Decimals unknown: the raw base-unit integer, said so.
    return ev.amount + sym + ' (raw)';
  }
  function timeText(ts) {
    const d = new Date(ts);
    return isNaN(d) ? '' : d.toLocaleTimeString();
  }
  function txCell(ev) {
    const td = el('td', { className: 'tx' });
    const tx = ev.tx_id || '';
    const base = TRONSCAN[ev.network];
    if (base && /^[0-9a-f]{64}$/i.test(tx)) {
      const href = base + '/#/transaction/' + tx;
      td.append(el('a', { href, textContent: short(tx), title: href, target: '_blank', rel: 'noopener noreferrer' }));
    } else {
      td.append(el('span', { textContent: short(tx), title: tx }));
    }
    return td;
  }

  // ---- events table
  const table = {
    count: 0,
    body() { return $('events').tBodies[0]; },
    clear() {
      this.body().replaceChildren();
      this.count = 0;
      this.showCount();
    },
    showCount() { $('count').textContent = this.count + (this.count === 1 ? ' event' : ' events'); },
    add(ev) {
      const tbody = this.body();
      const tr = el('tr', { className: 'fresh' });
      tr.dataset.cursor = ev.cursor;
      tr.dataset.id = ev.id || '';
      tr.dataset.kind = ev.kind || '';
      if (ev.removed) {
        tr.classList.add('removed');
        // The retraction strikes the event it takes back, too.
        for (const r of tbody.rows) {
          if (r.dataset.id === tr.dataset.id) r.classList.add('retracted');
        }
      }
      const block = ev.block || {};
      const kind = el('td', { className: 'kind', textContent: ev.kind || '' });
      if (ev.removed) kind.append(el('span', { className: 'badge', textContent: 'removed (reorg)' }));
      if (ev.success === false) { kind.classList.add('failed'); kind.title = 'failed transaction'; }
      // Spoofing flags at a glance: each is a trap a deposit must not
      // fall for (see the API document for what each does not prove).
      for (const f of ev.flags || []) {
        kind.append(el('span', { className: 'badge flag', textContent: f.replace(/_/g, ' '), title: FLAG_HELP[f] || f }));
      }
      if (ev.token && ev.token.verified && ev.kind !== 'trx_transfer' && ev.kind !== 'trx_internal_transfer') {
        kind.append(el('span', { className: 'badge verified', textContent: 'verified', title: 'token on the network\'s well-known list (by address)' }));
      }
      if (ev.solidified) kind.append(el('span', { className: 'badge solid', textContent: 'solid', title: 'block solidified (irreversible)' }));
      if (ev.memo) {
        const memo = ev.memo_encoding === 'hex' ? '0x' + ev.memo : ev.memo;
        kind.append(el('span', { className: 'badge memo', textContent: 'memo', title: 'unauthenticated sender text: ' + memo }));
      }
      const parties = el('td', { className: 'addr' }, addrSpan(ev.from), ' → ', addrSpan(ev.to));
      tr.append(
        el('td', { textContent: timeText(block.timestamp), title: block.timestamp || '' }),
        el('td', { textContent: block.number !== undefined ? String(block.number) : '', title: block.id || '' }),
        kind,
        el('td', { className: 'num amount', textContent: amountText(ev), title: ev.amount || '' }),
        parties,
        txCell(ev),
        el('td', { className: 'num conf', textContent: ev.confirmations !== undefined ? String(ev.confirmations) : '' }),
      );
      tbody.insertBefore(tr, tbody.firstChild);
      while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(-1);
      this.count++;
      this.showCount();
    },
  };

  // ---- chain state: every event names its predecessor (prev_cursor), and
  // each one shown must name the one shown before it.
  const chain = {
    mended: 0,
    broken: null, // the first break the edge could not mend either
    reset() { this.mended = 0; this.broken = null; this.show('intact', 'chain intact', ''); },
    show(state, text, title) {
      const c = $('chain');
      c.dataset.chain = state;
      c.textContent = text;
      c.title = title || 'every event names its predecessor; the viewer checks each one';
    },
    missing(brk) {
      return 'events after cursor ' + (brk.after || '(none)') + ' up to ' + (brk.prev || '(none)') + ' are missing';
    },
    mending(brk) {
      if (this.broken) return;
      this.show('mending', 'chain broken at cursor ' + brk.before + ', fetching the missing events…', this.missing(brk));
    },
    recovered() {
      this.mended++;
      if (this.broken) return;
      this.show('intact', 'chain intact (' + this.mended + (this.mended === 1 ? ' break' : ' breaks') + ' mended)',
        'events went missing on the way and were fetched again; none is missing');
    },
    lost(brk) {
      if (!this.broken) this.broken = brk;
      const b = this.broken;
      this.show('broken', 'broken at cursor ' + b.before, this.missing(b) + ', and the edge\'s history lacks them too');
    },
  };

  // ---- the stream of one subscription, reconnecting until told to stop
  class Stream {
    constructor(sub, after) {
      this.sub = sub;
      this.after = after || ''; // last cursor shown
      // linked: the next event must name this.after as its predecessor
      // (false until there is a position, and after a resume older than
      // retention); mending: the break being fetched again.
      this.linked = this.after !== '';
      this.mending = null;
      this.ws = null;
      this.attempt = 0;
      this.stopped = false;
      this.opened = false;
      this.heartbeatMs = 0;
      this.retryTimer = 0;
      this.countdown = 0;
      this.watchdog = 0;
    }

    url() {
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      let u = proto + '//' + location.host + '/v1/subscriptions/' + encodeURIComponent(this.sub) +
        '/stream?token=' + encodeURIComponent(apiKey);
      if (this.after) u += '&after=' + encodeURIComponent(this.after);
      return u;
    }

    connect() {
      this.clearTimers();
      if (this.stopped) return;
      if (this.ws) { const old = this.ws; this.ws = null; old.close(); }
      this.opened = false;
      setState('connecting', 'connecting…');
      let ws;
      try {
        ws = new WebSocket(this.url());
      } catch (e) {
        this.retry('cannot open: ' + e.message);
        return;
      }
      this.ws = ws;
      ws.onopen = () => { if (ws === this.ws) this.opened = true; };
      ws.onmessage = (m) => { if (ws === this.ws) this.onMessage(m.data); };
      ws.onclose = (e) => { if (ws === this.ws) this.onClose(e); };
    }

    onMessage(text) {
      this.kick();
      let msg;
      try { msg = JSON.parse(text); } catch { return; }
      switch (msg.type) {
        case 'hello':
          this.attempt = 0;
          this.heartbeatMs = (msg.heartbeat_s || 0) * 1000;
          this.kick();
          setState('live', 'live');
          $('notice').textContent = this.after && msg.resumed === false
            ? 'Resumed after a gap longer than the retention: some events were skipped.' : '';
          if (this.after && msg.resumed === false) { this.linked = false; this.mending = null; }
          break;
        case 'heartbeat':
          if (msg.head_block !== undefined) $('head').textContent = 'head block ' + msg.head_block;
          break;
        case 'event':
          // Cursors are fixed-length lowercase hex in delivery order, so
          // anything at or below the last one shown is a duplicate (a
          // replay overlapping what arrived before a reconnect).
          if (typeof msg.cursor !== 'string' || (this.after && msg.cursor <= this.after)) return;
          if (!this.checkLink(msg)) return;
          this.after = msg.cursor;
          this.linked = true;
          store.set(WATCH_STORE, JSON.stringify({ sub: this.sub, after: this.after }));
          table.add(msg);
          break;
        default: // future message types are ignored
      }
    }

    // checkLink checks that msg names the last event shown as its
    // predecessor. On a break it resumes at once after the last event
    // shown, so the edge sends the missing events first, and returns
    // false: msg is not shown before them. If the edge sends the same
    // break again, its history lacks them too: the chain shows broken,
    // and msg is shown.
    checkLink(msg) {
      if (!this.linked || !Object.prototype.hasOwnProperty.call(msg, 'prev_cursor')) {
        this.mending = null; // an event from before links existed
        return true;
      }
      if (msg.prev_cursor === this.after) {
        if (this.mending) { this.mending = null; chain.recovered(); }
        return true;
      }
      const brk = { after: this.after, before: msg.cursor, prev: msg.prev_cursor };
      if (this.mending) {
        this.mending = null;
        chain.lost(brk);
        return true;
      }
      this.mending = brk;
      chain.mending(brk);
      this.attempt = 0;
      this.connect(); // closes this connection, resumes after this.after
      return false;
    }

    onClose(e) {
      this.ws = null;
      this.clearTimers();
      if (this.stopped) return;
      switch (e.code) {
        case 4404: this.stop('subscription deleted'); return;
        case 4004: this.stop('unknown subscription'); return;
        case 1008: this.stop('API key refused' + (e.reason ? ': ' + e.reason : ' (revoked?)')); return;
        case 1009: this.stop('message too big'); return;
        default:
      }
      if (e.code === 1006 && !this.opened) {
        // The browser hides why an upgrade failed (401, 404, 429…): ask
        // the REST API, so a bad key or a gone subscription stops here
        // instead of retrying for ever.
        this.diagnose();
        return;
      }
      this.retry(reason(e.code, e.reason));
    }

    async diagnose() {
      try {
        await api('GET', '/v1/subscriptions/' + encodeURIComponent(this.sub));
      } catch (err) {
        if (this.stopped || this.ws) return;
        if (err instanceof APIError && (err.status === 401 || err.status === 403)) { this.stop('API key refused: ' + err.message); return; }
        if (err instanceof APIError && err.status === 404) { this.stop('subscription not found'); return; }
        this.retry(err instanceof APIError ? err.message : 'edge unreachable');
        return;
      }
      if (!this.stopped && !this.ws) this.retry('connection failed');
    }

    // retry waits a jittered, doubling delay and connects again from the
    // last cursor, showing the countdown.
    retry(why) {
      this.clearTimers();
      if (this.stopped) return;
      const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
      this.attempt = Math.min(this.attempt + 1, 16);
      const delay = ceiling / 2 + Math.random() * ceiling / 2;
      const until = Date.now() + delay;
      const tick = () => {
        const s = Math.max(0, Math.ceil((until - Date.now()) / 1000));
        setState('reconnecting', 'reconnecting in ' + s + 's (' + why + ')');
      };
      tick();
      this.countdown = setInterval(tick, 250);
      this.retryTimer = setTimeout(() => this.connect(), delay);
    }

    // kick restarts the watchdog: a connection silent for three
    // heartbeats is dead even if TCP has not noticed.
    kick() {
      clearTimeout(this.watchdog);
      if (!this.heartbeatMs) return;
      this.watchdog = setTimeout(() => {
        const ws = this.ws;
        this.ws = null;
        if (ws) ws.close();
        this.retry('no heartbeat');
      }, this.heartbeatMs * 3 + 5000);
    }

    reconnectNow() {
      if (this.stopped || this.ws) return;
      this.attempt = 0;
      this.connect();
    }

    clearTimers() {
      clearTimeout(this.retryTimer);
      clearInterval(this.countdown);
      clearTimeout(this.watchdog);
    }

    stop(why, quiet) {
      this.stopped = true;
      this.clearTimers();
      const ws = this.ws;
      this.ws = null;
      if (ws) ws.close(1000);
      if (!quiet) setState('closed', 'closed: ' + why);
    }
  }

  function reason(code, text) {
    const known = {
      1000: 'closed', 1001: 'server going away', 1006: 'connection lost', 1011: 'server error',
      1012: 'server restart', 4008: 'too slow, resuming', 4029: 'too many connections',
    };
    return (known[code] || 'code ' + code) + (text ? ': ' + text : '');
  }

  // ---- subscriptions
  let stream = null;
  let subs = [];

  async function loadSubs() {
    $('key-error').textContent = '';
    const all = [];
    let cursor = '';
    try {
      for (let i = 0; i < SUB_PAGES; i++) {
        const page = await api('GET', '/v1/subscriptions?limit=100' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
        all.push(...(page.subscriptions || []));
        if (!page.next) break;
        cursor = page.next;
      }
    } catch (err) {
      $('key-error').textContent = err.message;
      $('subs-section').hidden = true;
      return false;
    }
    subs = all;
    renderSubs();
    $('subs-section').hidden = false;
    return true;
  }

  function describe(s) {
    const parts = [];
    if (s.kinds && s.kinds.length) parts.push(s.kinds.join(', '));
    else parts.push('all kinds');
    if (s.address_count) parts.push(s.address_count + (s.address_count === 1 ? ' address' : ' addresses'));
    if (s.contracts && s.contracts.length) parts.push(s.contracts.length + ' contract' + (s.contracts.length === 1 ? '' : 's'));
    parts.push((s.confirmations !== undefined ? s.confirmations : 19) + ' conf.');
    if (s.status && s.status !== 'active') parts.push(s.status);
    return parts.join(' · ');
  }

  function renderSubs() {
    const ul = $('subs');
    ul.replaceChildren();
    $('subs-empty').hidden = subs.length > 0;
    for (const s of subs) {
      const b = el('button', { type: 'button', textContent: s.label ? s.label : s.id, title: s.id });
      b.dataset.sub = s.id;
      // Picking the subscription shown again resumes it where it stopped.
      b.addEventListener('click', () => watch(s.id, stream && stream.sub === s.id ? stream.after : ''));
      const li = el('li', {}, b, el('span', { className: 'meta', textContent: describe(s) }));
      li.dataset.sub = s.id;
      if (stream && stream.sub === s.id && !stream.stopped) li.classList.add('selected');
      ul.append(li);
    }
  }

  function watch(sub, after) {
    const same = stream && stream.sub === sub;
    if (stream) stream.stop('switched', true);
    if (!same) { table.clear(); chain.reset(); }
    $('notice').textContent = '';
    $('head').textContent = '';
    $('watching').textContent = sub;
    $('events-section').hidden = false;
    store.set(WATCH_STORE, JSON.stringify({ sub, after: after || '' }));
    stream = new Stream(sub, after);
    renderSubs();
    stream.connect();
  }

  function splitList(text) {
    return text.split(/[\s,;]+/).map((x) => x.trim()).filter(Boolean);
  }

  async function createSub(ev) {
    ev.preventDefault();
    $('create-error').textContent = '';
    const body = {};
    const label = $('new-label').value.trim();
    if (label) body.label = label;
    const addresses = splitList($('new-addresses').value);
    if (addresses.length) body.addresses = addresses;
    const contracts = splitList($('new-contracts').value);
    if (contracts.length) body.contracts = contracts;
    const kinds = [...$('new-kinds').querySelectorAll('input:checked')].map((i) => i.value);
    if (kinds.length) body.kinds = kinds;
    body.direction = $('new-direction').value;
    const conf = $('new-confirmations').value;
    if (conf !== '') body.confirmations = Number(conf);
    let created;
    try {
      created = await api('POST', '/v1/subscriptions', body);
    } catch (err) {
      $('create-error').textContent = err.message;
      return;
    }
    $('create-form').reset();
    $('create-details').open = false;
    await loadSubs();
    watch(created.id, '');
  }

  // ---- key
  async function useKey(ev) {
    ev.preventDefault();
    const k = $('key').value.trim();
    if (!k) return;
    apiKey = k;
    store.set(KEY_STORE, k);
    if (stream) { stream.stop('key changed'); stream = null; }
    await loadSubs();
  }

  function forgetKey() {
    apiKey = '';
    store.del(KEY_STORE);
    store.del(WATCH_STORE);
    $('key').value = '';
    if (stream) { stream.stop('key forgotten'); stream = null; }
    subs = [];
    renderSubs();
    $('subs-section').hidden = true;
    $('events-section').hidden = true;
    setState('idle', 'not connected');
  }

  function init() {
    for (const k of KINDS) {
      const box = el('input', { type: 'checkbox', value: k });
      $('new-kinds').append(el('label', {}, box, k));
    }
    $('key-form').addEventListener('submit', useKey);
    $('forget-key').addEventListener('click', forgetKey);
    $('reload-subs').addEventListener('click', () => loadSubs());
    $('create-form').addEventListener('submit', createSub);
    $('clear').addEventListener('click', () => table.clear());
    $('stop').addEventListener('click', () => { if (stream) stream.stop('disconnected by you'); renderSubs(); });
    window.addEventListener('online', () => { if (stream) stream.reconnectNow(); });
    if (apiKey) {
      $('key').value = apiKey;
      loadSubs().then((ok) => {
        if (!ok) return;
        // A reload resumes the stream it was showing from its last cursor.
        let w = null;
        try { w = JSON.parse(store.get(WATCH_STORE) || 'null'); } catch { w = null; }
        if (w && w.sub && subs.some((s) => s.id === w.sub)) watch(w.sub, w.after || '');
      });
    }
  }

  init();
})();
