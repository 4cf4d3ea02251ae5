// Live map, a worker's day track and a visit's track (Leaflet, vendored).
// Data comes from <script type="application/json"> blocks and the
// /staff/live/events stream; without a tile URL the maps show markers
// and geofences on a plain background.
(function () {
  'use strict';
  var colours = { visit: '#067647', moving: '#1f5fae', still: '#1f5fae', offline: '#98a2b3', nofix: '#98a2b3', nodevice: '#98a2b3', sos: '#b42318' };

  function readJSON(id) {
    var el = document.getElementById(id);
    if (!el) { return null; }
    try { return JSON.parse(el.textContent); } catch (e) { return null; }
  }

  function newMap(el) {
    var map = L.map(el, { zoomControl: true, attributionControl: !!el.dataset.tiles });
    if (el.dataset.tiles) {
      L.tileLayer(el.dataset.tiles, { maxZoom: 19, attribution: '&copy; OpenStreetMap' }).addTo(map);
    }
    map.setView([55.751, 37.618], 10); // until the data says where
    return map;
  }

  function fit(map, bounds) {
    if (bounds.length === 1) { map.setView(bounds[0], 16); } else if (bounds.length > 1) { map.fitBounds(bounds, { padding: [24, 24], maxZoom: 17 }); }
  }

  // ---- live map ----
  function live(el) {
    var map = newMap(el);
    var markers = {};
    var status = document.getElementById('live-status');

    function setStatus(key) { if (status) { status.textContent = status.dataset[key] || ''; } }

    function row(w) {
      var tr = document.createElement('tr');
      tr.id = 'live-worker-' + w.id;
      tr.className = 'state-' + w.state;
      tr.dataset.id = w.id;
      var td1 = document.createElement('td');
      var a = document.createElement('a');
      a.href = w.track;
      a.textContent = w.name;
      td1.appendChild(a);
      var td2 = document.createElement('td');
      td2.className = 'label';
      var dot = document.createElement('span');
      dot.className = 'dot ' + w.state;
      dot.setAttribute('aria-hidden', 'true');
      td2.appendChild(dot);
      td2.appendChild(document.createTextNode(' ' + w.label));
      var td3 = document.createElement('td');
      td3.className = 'num battery';
      td3.textContent = w.battery >= 0 ? w.battery + '%' : '—';
      tr.appendChild(td1); tr.appendChild(td2); tr.appendChild(td3);
      return tr;
    }

    // Only the user's own gestures stop following (our fitBounds also fires
    // Leaflet's zoom events, so those cannot tell).
    var follow = true;
    var stop = function () { follow = false; };
    map.on('dragstart', stop);
    var box = map.getContainer();
    ['wheel', 'dblclick', 'touchstart', 'keydown'].forEach(function (ev) { box.addEventListener(ev, stop, { passive: true }); });
    box.querySelectorAll('.leaflet-control-zoom a').forEach(function (a) { a.addEventListener('click', stop); });
    function apply(s) {
      var seen = {};
      var bounds = [];
      var tbody = document.querySelector('#live-list tbody');
      if (tbody && s.workers.length) {
        var frag = document.createDocumentFragment();
        s.workers.forEach(function (w) { frag.appendChild(row(w)); });
        tbody.replaceChildren(frag);
      }
      s.workers.forEach(function (w) {
        if (!w.has_fix) { return; }
        seen[w.id] = true;
        var ll = [w.lat, w.lon];
        bounds.push(ll);
        var style = { radius: w.state === 'sos' ? 11 : 8, color: '#fff', weight: 2, fillColor: colours[w.state] || '#98a2b3', fillOpacity: 0.95 };
        var text = w.name + ' — ' + w.label + (w.battery >= 0 ? ' · ' + w.battery + '%' : '');
        var m = markers[w.id];
        if (!m) {
          m = L.circleMarker(ll, style).addTo(map);
          m.bindTooltip('', { className: 'worker-label' });
          m.on('click', function () { window.location.href = w.track; });
          markers[w.id] = m;
        } else {
          m.setLatLng(ll);
          m.setStyle(style);
        }
        m.setTooltipContent(text);
      });
      Object.keys(markers).forEach(function (id) {
        if (!seen[id]) { map.removeLayer(markers[id]); delete markers[id]; }
      });
      // Follow the workers (fit the view to them) until the supervisor pans
      // or zooms by hand; then the view is theirs.
      if (follow && bounds.length) { fit(map, bounds); }
      var upd = document.getElementById('live-updated');
      if (upd) { upd.textContent = s.updated; }
      var badge = document.getElementById('live-alerts');
      var count = document.getElementById('live-alert-count');
      if (badge && count) { count.textContent = s.alerts; badge.hidden = !s.alerts; }
    }

    var initial = readJSON('live-data');
    if (initial) { apply(initial); }
    if (!window.EventSource || !el.dataset.events) { return; }
    var es = new EventSource(el.dataset.events);
    es.onopen = function () { setStatus('live'); };
    es.onerror = function () { setStatus('lost'); };
    es.addEventListener('snapshot', function (e) { setStatus('live'); apply(JSON.parse(e.data)); });
    // Visit and alert events arrive between snapshots; the next snapshot
    // (a few seconds away) carries the worker's new state.
  }

  // ---- a day's track ----
  function track(el) {
    var map = newMap(el);
    var d = readJSON('track-data') || { points: [], visits: [] };
    var line = d.points.map(function (p) { return [p[0], p[1]]; });
    var bounds = line.slice();
    if (line.length) {
      L.polyline(line, { color: '#1f5fae', weight: 3, opacity: 0.8 }).addTo(map);
      L.circleMarker(line[0], { radius: 6, color: '#067647' }).addTo(map).bindTooltip(d.points[0][2]);
      L.circleMarker(line[line.length - 1], { radius: 6, color: '#b42318' }).addTo(map).bindTooltip(d.points[d.points.length - 1][2]);
    }
    d.visits.forEach(function (v) {
      var m = L.circleMarker([v.lat, v.lon], { radius: 9, color: '#fff', weight: 2, fillColor: '#067647', fillOpacity: 0.9 }).addTo(map);
      m.bindTooltip(v.client + ' ' + v.start + '–' + (v.end || '…'));
      m.on('click', function () { window.location.href = v.url; });
      bounds.push([v.lat, v.lon]);
    });
    fit(map, bounds);
  }

  // ---- one visit ----
  function visit(el) {
    var map = newMap(el);
    var d = readJSON('visit-map-data');
    if (!d) { return; }
    var bounds = [];
    var f = d.fence || {};
    if (f.kind === 'polygon' && f.ring && f.ring.length) {
      L.polygon(f.ring, { color: '#067647', weight: 2, fillOpacity: 0.1 }).addTo(map).bindTooltip(d.client);
      bounds = bounds.concat(f.ring);
    } else if (f.radius) {
      var c = L.circle([f.lat, f.lon], { radius: f.radius, color: '#067647', weight: 2, fillOpacity: 0.1 }).addTo(map).bindTooltip(d.client);
      var cb = c.getBounds();
      bounds.push([cb.getNorth(), cb.getEast()], [cb.getSouth(), cb.getWest()]);
    }
    var line = d.points.map(function (p) { return [p[0], p[1]]; });
    if (line.length) {
      L.polyline(line, { color: '#1f5fae', weight: 3, opacity: 0.8 }).addTo(map);
      d.points.forEach(function (p) {
        L.circleMarker([p[0], p[1]], { radius: 3, color: '#1f5fae', weight: 1, fillOpacity: 0.7 }).addTo(map).bindTooltip(p[2]);
      });
      bounds = bounds.concat(line);
    }
    fit(map, bounds);
  }

  var el;
  if ((el = document.getElementById('live-map'))) { live(el); }
  if ((el = document.getElementById('track-map'))) { track(el); }
  if ((el = document.getElementById('visit-map'))) { visit(el); }
})();
