/*! hopscope rum.js, beacon format v2: sends this page's Navigation Timing to the hopscope collector, once, and the
 * Resource Timing of its fetch/XHR calls to origins behind hopscope (those whose response carried a Server-Timing
 * traceparent), in batches. */
(function () {
  'use strict';
  try {
    var w = window, d = document, s = d.currentScript;
    if (w.__hopscopeRUM) return; // included twice: still one beacon per batch
    w.__hopscopeRUM = 1;
    // Where to send: data-endpoint on the script tag, else /v1/rum on the
    // origin the script came from.
    var endpoint = s && s.getAttribute('data-endpoint');
    if (endpoint) endpoint = new URL(endpoint, d.baseURI).href;
    else if (s && s.src) endpoint = new URL('/v1/rum', s.src).href;
    else return;

    var STEPS = ['fetchStart', 'domainLookupStart', 'domainLookupEnd', 'connectStart',
      'secureConnectionStart', 'connectEnd', 'requestStart', 'responseStart', 'responseEnd'];
    var MAX_SERVER_TIMING = 32;
    var BATCH = 20;          // resources per beacon: a flush when reached
    var MAX_RESOURCES = 200; // resources per page; beyond, only counted (dropped)
    var FLUSH_DELAY = 2000;  // ms after the first queued resource
    var p = w.performance;
    var page = location.href.split(/[?#]/)[0]; // no query or fragment on the wire
    var navDone = false, queue = [], taken = 0, dropped = 0, timer = 0;

    // serverTiming entries as plain objects, traceparent always kept; null
    // when there is no traceparent.
    var serverTiming = function (e) {
      var st = [], tp = false, i;
      e = e || [];
      for (i = 0; i < e.length; i++) {
        if (e[i].name === 'traceparent') tp = true;
        if (e[i].name === 'traceparent' || st.length < MAX_SERVER_TIMING) {
          st.push({name: e[i].name, duration: e[i].duration, description: e[i].description});
        }
      }
      return tp ? st : null;
    };
    var steps = function (e, o) {
      for (var i = 0; i < STEPS.length; i++) o[STEPS[i]] = e[STEPS[i]];
      if (typeof e.transferSize === 'number') o.transferSize = e.transferSize;
      return o;
    };

    var post = function (b) {
      var body = JSON.stringify(b), queued = false;
      // text/plain keeps the request "simple": no CORS preflight.
      try {
        queued = navigator.sendBeacon(endpoint, new Blob([body], {type: 'text/plain'}));
      } catch (x) {}
      if (!queued && w.fetch) {
        w.fetch(endpoint, {
          method: 'POST', body: body, keepalive: true, credentials: 'omit',
          headers: {'Content-Type': 'text/plain'}
        })['catch'](function () {});
      }
    };
    var envelope = function () {
      return {v: 2, page: page, time_origin: p.timeOrigin || (p.timing && p.timing.navigationStart)};
    };

    // flush sends the queued resources (and the dropped count), if any.
    var flush = function () {
      if (timer) { clearTimeout(timer); timer = 0; }
      if (!queue.length && !dropped) return;
      var b = envelope();
      b.resources = queue.splice(0, BATCH);
      if (dropped) { b.dropped = dropped; dropped = 0; }
      if (!b.resources.length) return; // a count alone waits for an entry
      post(b);
      if (queue.length) flush();
    };

    // take queues one fetch/XHR entry that carries a Server-Timing
    // traceparent (the sidecar's: the call went to an app behind hopscope;
    // a cross-origin one only with Timing-Allow-Origin).
    var take = function (e) {
      if (e.initiatorType !== 'fetch' && e.initiatorType !== 'xmlhttprequest') return;
      if (e.name.indexOf(endpoint) === 0) return; // our own fallback POST
      if (e.transferSize === 0) return; // from the cache, or no Timing-Allow-Origin
      var st = serverTiming(e.serverTiming);
      if (!st) return;
      if (taken >= MAX_RESOURCES) { dropped++; return; }
      taken++;
      var r = steps(e, {name: e.name.split(/[?#]/)[0], initiatorType: e.initiatorType});
      r.server_timing = st;
      queue.push(r);
      if (queue.length >= BATCH) flush();
      else if (navDone && !timer) timer = setTimeout(flush, FLUSH_DELAY);
    };

    var sendNav = function () {
      if (navDone) return;
      navDone = true;
      try {
        var b = envelope();
        var n = p && p.getEntriesByType && p.getEntriesByType('navigation')[0];
        // From the browser's cache (transferSize 0): not a fetch, and the
        // Server-Timing traceparent is the earlier response's.
        if (n && n.transferSize !== 0) {
          var nav = steps(n, {});
          if (typeof n.type === 'string') nav.type = n.type;
          var st = serverTiming(n.serverTiming);
          var meta = d.querySelector('meta[name="traceparent"]');
          if (st || (meta && meta.content)) {
            b.nav = nav;
            b.server_timing = st || [];
            if (meta && meta.content) b.traceparent = meta.content;
          }
        }
        // The resources taken so far go with the navigation.
        if (queue.length) b.resources = queue.splice(0, BATCH);
        if (dropped) { b.dropped = dropped; dropped = 0; }
        if (b.nav || b.resources) post(b);
      } catch (x) {}
      flush();
    };

    if (w.PerformanceObserver) {
      try {
        new PerformanceObserver(function (list) {
          var es = list.getEntries();
          for (var i = 0; i < es.length; i++) take(es[i]);
        }).observe({type: 'resource', buffered: true});
      } catch (x) {}
    }
    // Leaving the page (or hiding it, the last reliable moment on mobile):
    // send what is queued.
    d.addEventListener('visibilitychange', function () { if (d.visibilityState === 'hidden') flush(); });
    w.addEventListener('pagehide', flush);

    // After the load event, in a task of its own so that loadEventEnd is set.
    var later = function () { setTimeout(sendNav, 0); };
    var start = function () {
      if (d.readyState === 'complete') later();
      else w.addEventListener('load', later);
    };
    // A prerendered page reports once the user actually sees it.
    if (d.prerendering) d.addEventListener('prerenderingchange', start, {once: true});
    else start();
  } catch (x) {}
})();
