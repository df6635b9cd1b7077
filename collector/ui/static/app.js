// hopscope collector UI. Plain JavaScript, no dependencies: the list of
// recent requests (stacked per-hop bars) and one request's waterfall. The
// palette and the API base come from #hopscope-config, rendered by Go.
(() => {
  'use strict';

  const cfg = JSON.parse(document.getElementById('hopscope-config').textContent);
  const api = cfg.apiBase;
  const TRACE_ID = /^[0-9a-f]{32}$/i;
  const LIST_QUERY_KEY = 'hopscope.listQuery';
  // The API's bearer token when the collector has --auth-token-file: asked
  // for on the first 401, kept for this tab only.
  const TOKEN_KEY = 'hopscope.token';

  // ---- helpers ------------------------------------------------------------

  function colorOf(hop) {
    return Object.prototype.hasOwnProperty.call(cfg.palette, hop) ? cfg.palette[hop] : cfg.defaultColor;
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role' || k === 'title' || k === 'href' ||
        k === 'datetime' || k === 'scope' || k === 'colspan' || k === 'target' || k === 'rel' || k === 'id') e.setAttribute(k, v === true ? '' : String(v));
      else e[k] = v;
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  // fmtMS keeps about three significant digits: 0.213, 4.56, 23.4, 1234.5.
  function fmtMS(v) {
    const n = Number(v) || 0;
    const a = Math.abs(n);
    const digits = a >= 10 ? 1 : a >= 1 ? 2 : 3;
    return n.toFixed(digits);
  }

  function pct(v, scale) {
    return (Math.max(0, v) / scale * 100).toFixed(4) + '%';
  }

  function positive(hops) {
    return (hops || []).reduce((s, h) => s + Math.max(0, Number(h.ms) || 0), 0);
  }

  function startTime(iso) {
    const d = new Date(iso);
    if (!iso || Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1971) return null;
    return d;
  }

  function clock(d) {
    const p = (n, w) => String(n).padStart(w || 2, '0');
    return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
  }

  function isoDate(d) {
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
  }

  function safeHTTPURL(s) {
    try {
      const u = new URL(s, location.href);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
    } catch {
      return null;
    }
  }

  function statusClass(status) {
    if (!status) return 'status-none';
    if (status >= 500) return 'status-5xx';
    if (status >= 400) return 'status-4xx';
    if (status >= 300) return 'status-3xx';
    return 'status-2xx';
  }

  async function getJSON(url, signal) {
    let res;
    try {
      const headers = { Accept: 'application/json' };
      const token = sessionStorage.getItem(TOKEN_KEY);
      if (token) headers.Authorization = `Bearer ${token}`;
      res = await fetch(url, { headers, cache: 'no-store', signal });
    } catch (e) {
      if (e.name === 'AbortError' || e.name === 'TimeoutError') throw e;
      throw new Error(`cannot reach the collector API at ${api} (${e.message})`);
    }
    if (res.status === 401) {
      askToken();
      throw new Error(sessionStorage.getItem(TOKEN_KEY)
        ? 'the API refused this token (401): enter another above'
        : 'the API asks for a token (401): enter it above');
    }
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!res.ok) {
      const why = data && typeof data.error === 'string' ? data.error : text.trim().slice(0, 300);
      throw new Error(`the API answered ${res.status} ${res.statusText}${why ? ': ' + why : ''}`);
    }
    if (data === null || typeof data !== 'object') throw new Error('the API answered with something that is not JSON');
    return data;
  }

  // askToken shows the token form; a token entered is kept for the tab
  // and the page loaded again with it.
  function askToken() {
    const form = document.getElementById('token-form');
    if (!form || !form.hidden) return;
    form.hidden = false;
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const v = document.getElementById('token').value.trim();
      if (!v) return;
      sessionStorage.setItem(TOKEN_KEY, v);
      location.reload();
    });
    document.getElementById('token').focus();
  }

  function withTimeout(signal, ms) {
    const t = AbortSignal.timeout(ms);
    return AbortSignal.any ? AbortSignal.any([signal, t]) : signal;
  }

  function showError(box, msg) {
    box.textContent = msg;
    box.hidden = false;
  }

  function hideError(box) {
    box.hidden = true;
    box.textContent = '';
  }

  // legendOrder sorts hop names in waterfall order; backend kinds, which
  // the palette may not know, go right after "app" in first-seen order.
  function legendOrder(seen) {
    const order = cfg.hopOrder;
    const app = order.indexOf('app');
    const rank = (h, i) => {
      const k = order.indexOf(h);
      if (k >= 0) return k <= app ? k : k + 1000;
      return app + 0.5 + i / 1e4;
    };
    return seen.map((h, i) => [h, rank(h, i)]).sort((a, b) => a[1] - b[1]).map(x => x[0]);
  }

  // ---- list view -------------------------------------------------------------

  function listView(root) {
    const $ = id => document.getElementById(id);
    const list = $('requests');
    const empty = $('empty');
    const emptyText = $('empty-text');
    const loading = $('loading');
    const errBox = $('list-error');
    const status = $('status');
    const legend = $('legend');
    const fService = $('f-service');
    const fRoute = $('f-route');
    const pauseBtn = $('pause');

    const known = new Map(); // service → Set of routes
    const rows = new Map(); // trace id → {li, key}
    let filter = readQuery();
    let paused = false;
    let timer = 0;
    let inflight = null;
    let everLoaded = false;

    function readQuery() {
      const q = new URLSearchParams(location.search);
      let limit = parseInt(q.get('limit') || '', 10);
      if (!(limit >= 1 && limit <= 1000)) limit = 50;
      return { service: q.get('service') || '', route: q.get('route') || '', limit };
    }

    function queryString(f) {
      const q = new URLSearchParams();
      if (f.service) q.set('service', f.service);
      if (f.route) q.set('route', f.route);
      if (f.limit !== 50) q.set('limit', String(f.limit));
      const s = q.toString();
      return s ? '?' + s : '';
    }

    function learn(items) {
      for (const b of items) {
        const svc = b.service || '';
        if (!known.has(svc)) known.set(svc, new Set());
        if (b.route) known.get(svc).add(b.route);
      }
    }

    function fillSelect(sel, values, current, allLabel) {
      const want = [''].concat(values);
      if (current && !want.includes(current)) want.push(current);
      const have = Array.from(sel.options, o => o.value);
      if (have.length !== want.length || have.some((v, i) => v !== want[i])) {
        sel.replaceChildren(...want.map(v => el('option', { value: v, text: v === '' ? allLabel : v })));
      }
      sel.value = current;
    }

    function renderOptions() {
      const services = Array.from(known.keys()).filter(s => s !== '').sort();
      fillSelect(fService, services, filter.service, 'All services');
      const routes = new Set();
      for (const [svc, rs] of known) {
        if (!filter.service || svc === filter.service) rs.forEach(r => routes.add(r));
      }
      fillSelect(fRoute, Array.from(routes).sort(), filter.route, 'All routes');
    }

    function renderLegend(items) {
      const seen = [];
      for (const b of items) {
        for (const h of b.hops || []) if (!seen.includes(h.hop)) seen.push(h.hop);
      }
      const hops = legendOrder(seen);
      const have = Array.from(legend.children, li => li.dataset.hop);
      if (have.length === hops.length && have.every((h, i) => h === hops[i])) return;
      legend.replaceChildren(...hops.map(h => {
        const sw = el('span', { class: 'swatch', 'aria-hidden': 'true' });
        sw.style.backgroundColor = colorOf(h);
        return el('li', { 'data-hop': h }, sw, h);
      }));
    }

    function rowFor(b, scale) {
      const id = String(b.trace_id || '');
      const d = startTime(b.start);
      const a = el('a', { class: 'row', href: 'trace/' + encodeURIComponent(id), 'data-trace-id': id, 'data-service': b.service || '' });
      const when = d ? el('time', { datetime: d.toISOString(), title: d.toString() }, clock(d)) : '—';
      a.append(
        el('span', { class: 'c-when' }, when),
        el('span', { class: 'c-method' }, b.method || '—'),
        el('span', { class: 'c-route', title: (b.service ? b.service + ' ' : '') + (b.route || '') },
          el('span', { class: 'route' }, b.route || '(no route)'),
          b.service ? el('span', { class: 'svc' }, b.service) : null),
        el('span', { class: 'c-status num ' + statusClass(b.status) }, b.status ? String(b.status) : '—'),
      );
      const parts = [];
      const bar = el('span', { class: 'bar', role: 'img' });
      for (const h of b.hops || []) {
        const ms = Number(h.ms) || 0;
        parts.push(`${h.hop} ${fmtMS(ms)} ms`);
        if (ms <= 0) continue; // nothing to draw; still in the label
        const seg = el('span', {
          class: 'seg', 'data-hop': h.hop, 'data-ms': String(ms),
          title: `${h.hop}: ${fmtMS(ms)} ms (${h.source || 'unknown'})`,
        });
        seg.style.width = pct(ms, scale);
        seg.style.backgroundColor = colorOf(h.hop);
        bar.append(seg);
      }
      bar.setAttribute('aria-label', parts.length ? 'Breakdown: ' + parts.join(', ') : 'No hops measured');
      a.append(bar, el('span', { class: 'c-total num' }, fmtMS(b.total_ms), el('span', { class: 'unit' }, ' ms')));
      return el('li', { 'data-trace-id': id }, a);
    }

    function renderList(items) {
      let scale = 0;
      for (const b of items) scale = Math.max(scale, Number(b.total_ms) || 0, positive(b.hops));
      if (!(scale > 0)) scale = 1;

      const focusedID = document.activeElement && document.activeElement.classList.contains('row')
        ? document.activeElement.dataset.traceId : null;
      const want = [];
      const keep = new Set();
      for (const b of items) {
        const id = String(b.trace_id || '');
        if (keep.has(id)) continue;
        keep.add(id);
        const key = JSON.stringify(b) + '|' + scale;
        let r = rows.get(id);
        if (!r) {
          r = { li: rowFor(b, scale), key };
          rows.set(id, r);
        } else if (r.key !== key) {
          // Replace the row's content in place so its <li> (and the page
          // around it) does not move.
          const fresh = rowFor(b, scale);
          const wasFocused = r.li.contains(document.activeElement);
          r.li.replaceChildren(...fresh.childNodes);
          r.key = key;
          if (wasFocused) r.li.firstChild.focus({ preventScroll: true });
        }
        want.push(r.li);
      }
      for (const [id, r] of rows) {
        if (!keep.has(id)) {
          r.li.remove();
          rows.delete(id);
        }
      }
      want.forEach((li, i) => {
        if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null);
      });
      if (focusedID && rows.has(focusedID) && !rows.get(focusedID).li.contains(document.activeElement)) {
        rows.get(focusedID).li.firstChild.focus({ preventScroll: true });
      }

      renderLegend(items);
      loading.hidden = true;
      list.setAttribute('aria-busy', 'false');
      if (items.length === 0) {
        if (filter.service || filter.route) {
          const what = [filter.service && `service “${filter.service}”`, filter.route && `route “${filter.route}”`].filter(Boolean).join(' and ');
          const clear = el('a', { href: './', id: 'clear-filters' }, 'Show all requests');
          clear.addEventListener('click', ev => {
            ev.preventDefault();
            setFilter({ service: '', route: '' });
          });
          emptyText.replaceChildren(`No recent requests for ${what}. `, clear);
        } else {
          emptyText.textContent = 'No requests yet — send traffic through a sidecar.';
        }
        empty.hidden = false;
      } else {
        empty.hidden = true;
      }
    }

    async function refresh() {
      clearTimeout(timer);
      if (inflight) inflight.abort();
      const ctrl = new AbortController();
      inflight = ctrl;
      const signal = withTimeout(ctrl.signal, 10000);
      const q = new URLSearchParams();
      if (filter.service) q.set('service', filter.service);
      if (filter.route) q.set('route', filter.route);
      q.set('limit', String(filter.limit));
      root.dataset.state = everLoaded ? 'refreshing' : 'loading';
      try {
        const calls = [getJSON(`${api}/breakdowns?${q}`, signal)];
        if (filter.service || filter.route) {
          // The dropdowns list what exists, not only what matches.
          calls.push(getJSON(`${api}/breakdowns?limit=200`, signal).catch(() => null));
        }
        const [res, all] = await Promise.all(calls);
        if (!Array.isArray(res.breakdowns)) throw new Error('the API answer has no "breakdowns" list');
        if (ctrl.signal.aborted) return;
        learn(res.breakdowns);
        if (all && Array.isArray(all.breakdowns)) learn(all.breakdowns);
        renderOptions();
        renderList(res.breakdowns);
        hideError(errBox);
        everLoaded = true;
        root.dataset.state = 'ready';
        status.textContent = `Updated ${clock(new Date())}` + (paused ? ' · paused' : '');
      } catch (e) {
        if (ctrl.signal.aborted) return;
        const why = e.name === 'TimeoutError' ? 'the API did not answer within 10 s' : e.message;
        showError(errBox, `Could not load requests: ${why}.` + (everLoaded ? ' Showing the last data.' : ''));
        loading.hidden = true;
        list.setAttribute('aria-busy', 'false');
        root.dataset.state = 'error';
        status.textContent = `Update failed at ${clock(new Date())}`;
      } finally {
        if (inflight === ctrl) {
          inflight = null;
          schedule();
        }
      }
    }

    function schedule() {
      clearTimeout(timer);
      if (!paused && !document.hidden) timer = setTimeout(refresh, cfg.refreshMs);
    }

    function setFilter(f, push = true) {
      filter = Object.assign({}, filter, f);
      if (f.service !== undefined && f.route === undefined && filter.route) {
        // Keep the route only if the newly chosen service has it.
        const rs = known.get(filter.service);
        if (filter.service && !(rs && rs.has(filter.route))) filter.route = '';
      }
      const qs = queryString(filter);
      if (push && qs !== location.search) history.pushState(null, '', './' + qs);
      saveListQuery();
      renderOptions();
      refresh();
    }

    function saveListQuery() {
      try {
        sessionStorage.setItem(LIST_QUERY_KEY, queryString(filter));
      } catch {
        // storage disabled: the back link goes to the unfiltered list
      }
    }

    function setPaused(p) {
      paused = p;
      pauseBtn.setAttribute('aria-pressed', String(p));
      pauseBtn.textContent = p ? 'Resume auto-refresh' : 'Pause auto-refresh';
      root.dataset.paused = String(p);
      if (p) {
        clearTimeout(timer);
        status.textContent = status.textContent.replace(/ · paused$/, '') + ' · paused';
      } else {
        refresh();
      }
    }

    fService.addEventListener('change', () => setFilter({ service: fService.value }));
    fRoute.addEventListener('change', () => setFilter({ route: fRoute.value }));
    document.getElementById('filters').addEventListener('submit', ev => ev.preventDefault());
    pauseBtn.addEventListener('click', () => setPaused(!paused));
    window.addEventListener('popstate', () => {
      filter = readQuery();
      saveListQuery();
      renderOptions();
      refresh();
    });
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) clearTimeout(timer);
      else if (!paused) refresh();
    });
    // Arrow keys move between rows; Enter opens one (it is a link).
    list.addEventListener('keydown', ev => {
      const row = ev.target.closest && ev.target.closest('.row');
      if (!row) return;
      const all = Array.from(list.querySelectorAll('.row'));
      const i = all.indexOf(row);
      let next = null;
      if (ev.key === 'ArrowDown') next = all[i + 1];
      else if (ev.key === 'ArrowUp') next = all[i - 1];
      else if (ev.key === 'Home') next = all[0];
      else if (ev.key === 'End') next = all[all.length - 1];
      else return;
      ev.preventDefault();
      if (next) next.focus();
    });

    // The selected values show before the first answer arrives.
    if (filter.service) known.set(filter.service, new Set(filter.route ? [filter.route] : []));
    renderOptions();
    saveListQuery();
    refresh();
  }

  // ---- trace view --------------------------------------------------------------

  function niceStep(span) {
    const raw = span / 5;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * p) return m * p;
    return 10 * p;
  }

  async function traceView(root) {
    const $ = id => document.getElementById(id);
    const id = root.dataset.traceId || '';
    const errBox = $('trace-error');
    const loading = $('trace-loading');
    const body = $('trace-body');

    try {
      const q = sessionStorage.getItem(LIST_QUERY_KEY);
      if (q) $('back').setAttribute('href', './' + q);
    } catch {
      // no storage: plain link to the list
    }

    if (!TRACE_ID.test(id)) {
      loading.hidden = true;
      showError(errBox, `“${id}” is not a trace id: want 32 hexadecimal characters.`);
      root.dataset.state = 'error';
      return;
    }
    let b;
    try {
      b = await getJSON(`${api}/traces/${id.toLowerCase()}/breakdown`, AbortSignal.timeout(10000));
    } catch (e) {
      loading.hidden = true;
      const why = e.name === 'TimeoutError' ? 'the API did not answer within 10 s' : e.message;
      showError(errBox, `Could not load trace ${id}: ${why}.`);
      root.dataset.state = 'error';
      return;
    }
    renderTrace(b);
    loading.hidden = true;
    body.hidden = false;
    root.dataset.state = 'ready';
  }

  function renderTrace(b) {
    const $ = id => document.getElementById(id);
    const title = [b.method, b.route].filter(Boolean).join(' ') || 'Request';
    $('trace-title').replaceChildren(title, b.status ? el('span', { class: 'badge ' + statusClass(b.status) }, String(b.status)) : null);
    document.title = `${title} — hopscope`;

    const d = startTime(b.start);
    const facts = [
      ['Service', b.service || '—'],
      ['Total', `${fmtMS(b.total_ms)} ms (from ${b.total_source || 'unknown'})`],
      ['Started', d ? el('time', { datetime: d.toISOString() }, isoDate(d) + ' ' + clock(d)) : '—'],
      ['Trace ID', el('code', {}, b.trace_id || '')],
    ];
    $('trace-summary').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));

    const links = $('trace-links');
    links.replaceChildren();
    const ju = b.jaeger_url && safeHTTPURL(b.jaeger_url);
    if (ju) {
      links.append(el('a', { class: 'jaeger', id: 'jaeger-link', href: ju, target: '_blank', rel: 'noopener noreferrer' },
        'Open this trace in Jaeger', el('span', { class: 'sr-only' }, ' (opens in a new tab)'), ' ↗'));
    }
    links.hidden = !ju;

    const hops = b.hops || [];
    const backends = b.backends || [];
    let scale = Math.max(Number(b.total_ms) || 0, positive(hops));
    for (const c of backends) scale = Math.max(scale, (Number(c.start_offset_ms) || 0) + (Number(c.ms) || 0));
    if (!(scale > 0)) scale = 1;

    // Axis ticks.
    const axis = $('axis');
    const step = niceStep(scale);
    const ticks = [];
    for (let t = 0; t <= scale + 1e-9; t += step) ticks.push(t);
    axis.replaceChildren(...ticks.map(t => {
      const s = el('span', { class: 'tick' }, `${+t.toFixed(3)} ms`);
      s.style.left = pct(t, scale);
      if (t / scale > 0.9) s.classList.add('tick-end');
      return s;
    }));

    const tbody = $('waterfall-rows');
    const trs = [];
    const backendRows = () => backends.map((c, i) => {
      const label = [c.kind, c.operation].filter(Boolean).join(' ');
      // An inferred call says how: "inferred: value" (attribution_reason).
      const attribution = c.attribution && c.attribution_reason ? `${c.attribution}: ${c.attribution_reason}` : c.attribution;
      const detail = [c.target, attribution].filter(Boolean).join(' · ') + (c.error ? ' · error' : '');
      const bar = el('span', {
        class: 'wbar backend attr-' + (c.attribution || 'unknown'),
        title: `${label}: ${fmtMS(c.ms)} ms at +${fmtMS(c.start_offset_ms)} ms (${attribution || 'unknown'}${c.error ? ', error' : ''})`,
      });
      bar.style.left = pct(c.start_offset_ms, scale);
      bar.style.width = pct(c.ms, scale);
      bar.style.backgroundColor = colorOf(c.kind);
      return el('tr', { class: 'backend' + (c.error ? ' is-error' : ''), 'data-kind': c.kind, 'data-index': i },
        el('th', { scope: 'row', class: 'c-name', title: label }, el('span', { class: 'indent', 'aria-hidden': 'true' }, '↳ '), label),
        el('td', { class: 'c-detail', title: detail }, detail),
        el('td', { class: 'num c-ms' }, fmtMS(c.ms)),
        el('td', { class: 'c-tl' }, el('div', { class: 'track' }, bar)));
    });
    let at = 0;
    let placedBackends = false;
    for (const h of hops) {
      const ms = Number(h.ms) || 0;
      const sw = el('span', { class: 'swatch', 'aria-hidden': 'true' });
      sw.style.backgroundColor = colorOf(h.hop);
      const bar = el('span', { class: 'wbar', title: `${h.hop}: ${fmtMS(ms)} ms from +${fmtMS(at)} ms (${h.source || 'unknown'})` });
      bar.style.left = pct(at, scale);
      bar.style.width = pct(ms, scale);
      bar.style.backgroundColor = colorOf(h.hop);
      if (ms <= 0) bar.hidden = true;
      trs.push(el('tr', { class: 'hop', 'data-hop': h.hop, 'data-ms': String(ms) },
        el('th', { scope: 'row', class: 'c-name' }, sw, h.hop),
        el('td', { class: 'c-detail' }, h.source || ''),
        el('td', { class: 'num c-ms' }, fmtMS(ms)),
        el('td', { class: 'c-tl' }, el('div', { class: 'track' }, bar))));
      at += Math.max(0, ms);
      if (h.hop === 'app' && backends.length) {
        trs.push(...backendRows());
        placedBackends = true;
      }
    }
    if (!placedBackends && backends.length) {
      trs.push(el('tr', { class: 'group' }, el('th', { scope: 'rowgroup', colspan: 4 }, 'Backend calls (the app itself was not measured)')));
      trs.push(...backendRows());
    }
    if (!hops.length && !backends.length) {
      trs.push(el('tr', {}, el('td', { colspan: 4, class: 'muted' }, 'No source measured this request yet.')));
    }
    tbody.replaceChildren(...trs);

    const tries = b.tries || [];
    $('tries').hidden = tries.length < 2;
    $('tries-rows').replaceChildren(...(tries.length < 2 ? [] : tries.map((t, i) => el('tr', {},
      el('td', { class: 'num' }, String(i + 1)),
      el('td', {}, el('code', {}, t.addr || '—')),
      el('td', { class: 'num ' + statusClass(t.status) }, t.status ? String(t.status) : '—'),
      el('td', { class: 'num' }, fmtMS(t.ms)),
      el('td', { class: 'muted' }, i === tries.length - 1 ? 'answered' : 'retried')))));

    const missing = b.missing || [];
    const m = $('missing');
    if (b.complete || missing.length === 0) {
      m.replaceChildren('Every hop was measured.');
    } else {
      m.replaceChildren('Not measured: ',
        ...missing.flatMap((h, i) => [i ? ', ' : '', el('span', { class: 'missing-hop', 'data-hop': h }, h)]),
        '. Their time, if any, is inside the hop around them or in “other”.');
    }
  }

  // ---- start -------------------------------------------------------------------

  const listRoot = document.getElementById('list-view');
  const traceRoot = document.getElementById('trace-view');
  if (listRoot) listView(listRoot);
  if (traceRoot) traceView(traceRoot);
})();
