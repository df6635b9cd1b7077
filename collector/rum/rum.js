/*! hopscope rum.js, beacon format v1: sends this page's Navigation Timing to the hopscope collector, once. */
(function () {
  'use strict';
  try {
    var w = window, d = document, s = d.currentScript;
    if (w.__hopscopeRUM) return; // included twice: still one beacon
    w.__hopscopeRUM = 1;
    // Where to send: data-endpoint on the script tag, else /v1/rum on the
    // origin the script came from.
    var endpoint = s && s.getAttribute('data-endpoint');
    if (endpoint) endpoint = new URL(endpoint, d.baseURI).href;
    else if (s && s.src) endpoint = new URL('/v1/rum', s.src).href;
    else return;

    var NAV = ['fetchStart', 'domainLookupStart', 'domainLookupEnd', 'connectStart',
      'secureConnectionStart', 'connectEnd', 'requestStart', 'responseStart', 'responseEnd'];
    var MAX_SERVER_TIMING = 32;
    var sent = false;

    var send = function () {
      if (sent) return;
      sent = true;
      try {
        var p = w.performance;
        var n = p && p.getEntriesByType && p.getEntriesByType('navigation')[0];
        if (!n) return;
        // From the browser's cache: not a fetch, and the Server-Timing
        // traceparent is the earlier response's.
        if (n.transferSize === 0) return;
        var nav = {}, i;
        for (i = 0; i < NAV.length; i++) nav[NAV[i]] = n[NAV[i]];
        if (typeof n.type === 'string') nav.type = n.type;
        if (typeof n.transferSize === 'number') nav.transferSize = n.transferSize;
        // serverTiming entries as plain objects; traceparent always kept.
        var st = [], e = n.serverTiming || [];
        for (i = 0; i < e.length; i++) {
          if (e[i].name === 'traceparent' || st.length < MAX_SERVER_TIMING) {
            st.push({name: e[i].name, duration: e[i].duration, description: e[i].description});
          }
        }
        var b = {
          v: 1,
          page: location.href.split(/[?#]/)[0], // no query or fragment on the wire
          time_origin: p.timeOrigin || (p.timing && p.timing.navigationStart),
          nav: nav,
          server_timing: st
        };
        var meta = d.querySelector('meta[name="traceparent"]');
        if (meta && meta.content) b.traceparent = meta.content;
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
      } catch (x) {}
    };
    // After the load event, in a task of its own so that loadEventEnd is set.
    var later = function () { setTimeout(send, 0); };
    var start = function () {
      if (d.readyState === 'complete') later();
      else w.addEventListener('load', later);
    };
    // A prerendered page reports once the user actually sees it.
    if (d.prerendering) d.addEventListener('prerenderingchange', start, {once: true});
    else start();
  } catch (x) {}
})();
