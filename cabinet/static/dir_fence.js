// Home geofence editor of the client form. The number inputs (lat, lon,
// radius) and the polygon textarea are the truth and the form works
// without this script; the map shows and edits them.
(function () {
  'use strict';
  var el = document.getElementById('client-map');
  if (!el || !window.L) return;
  var $ = function (id) { return document.getElementById(id); };
  var latIn = $('lat'), lonIn = $('lon'), radIn = $('radius'), polyIn = $('polygon');
  var kindP = $('fence-polygon'), kindC = $('fence-circle');
  var circleBox = $('circle-fields'), polyBox = $('polygon-fields');
  var undoBtn = $('poly-undo'), clearBtn = $('poly-clear');
  var readonly = el.getAttribute('data-readonly') === '1';
  var MIN_R = 5, MAX_R = 1000;

  var map = L.map(el, { maxZoom: 19, keyboard: true });
  var tiles = el.getAttribute('data-tiles');
  if (tiles) {
    L.tileLayer(tiles, { maxZoom: 19, attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>' }).addTo(map);
  }

  function icon(cls) { return L.divIcon({ className: 'dir-handle ' + cls, iconSize: null }); }
  function num(input) {
    var v = parseFloat(String(input.value).replace(',', '.'));
    return isFinite(v) ? v : NaN;
  }
  function fix(x) { return Math.round(x * 1e6) / 1e6; }
  function kind() { return kindP && kindP.checked ? 'polygon' : 'circle'; }
  function changed(input) { input.dispatchEvent(new Event('change', { bubbles: true })); }

  // ---- circle: a draggable centre and a radius handle east of it ----
  var centre = null, circle = null, handle = null;
  function circleValid() {
    var la = num(latIn), lo = num(lonIn);
    return la >= -90 && la <= 90 && lo >= -180 && lo <= 180;
  }
  function radius() {
    var r = num(radIn);
    return r > 0 ? Math.min(r, MAX_R * 5) : 40;
  }
  function eastOf(c, r) {
    return L.latLng(c.lat, c.lng + r / (111320 * Math.max(Math.cos(c.lat * Math.PI / 180), 0.01)));
  }
  function removeCircle() {
    [centre, circle, handle].forEach(function (l) { if (l) map.removeLayer(l); });
    centre = circle = handle = null;
  }
  function drawCircle() {
    if (kind() !== 'circle' || !circleValid()) { removeCircle(); return; }
    var c = L.latLng(num(latIn), num(lonIn)), r = radius();
    if (centre) {
      centre.setLatLng(c); circle.setLatLng(c); circle.setRadius(r);
      if (handle) handle.setLatLng(eastOf(c, r));
      return;
    }
    circle = L.circle(c, { radius: r, color: '#1f5fae', weight: 2, fillOpacity: 0.12, interactive: false }).addTo(map);
    centre = L.marker(c, { draggable: !readonly, icon: icon('centre'), title: latIn.labels[0] ? latIn.labels[0].textContent : '' }).addTo(map);
    centre.on('drag', function () { moveCentre(centre.getLatLng()); });
    centre.on('dragend', function () { moveCentre(centre.getLatLng()); changed(latIn); changed(lonIn); });
    if (!readonly) {
      handle = L.marker(eastOf(c, r), { draggable: true, icon: icon('radius'), title: radIn.labels[0] ? radIn.labels[0].textContent : '' }).addTo(map);
      handle.on('drag', function () { setRadius(map.distance(centre.getLatLng(), handle.getLatLng()), false); });
      handle.on('dragend', function () { setRadius(map.distance(centre.getLatLng(), handle.getLatLng()), true); });
    }
  }
  function moveCentre(p) {
    latIn.value = fix(p.lat);
    lonIn.value = fix(p.lng);
    circle.setLatLng(p);
    if (handle) handle.setLatLng(eastOf(p, radius()));
  }
  function setRadius(r, done) {
    r = Math.max(MIN_R, Math.min(MAX_R, Math.round(r)));
    radIn.value = r;
    circle.setRadius(r);
    if (done) {
      handle.setLatLng(eastOf(centre.getLatLng(), r));
      changed(radIn);
    }
  }

  // ---- polygon: click to add a vertex, drag vertices, undo, clear ----
  var pts = [], shape = null, vertices = [];
  function parsePoly() {
    var out = [];
    String(polyIn.value).split(/[\n;]+/).forEach(function (line) {
      line = line.trim();
      if (!line) return;
      var m = line.split(/[\s,]+/);
      if (m.length !== 2) m = line.split(', ');
      if (m.length !== 2) return;
      var la = parseFloat(m[0].replace(',', '.')), lo = parseFloat(m[1].replace(',', '.'));
      if (isFinite(la) && isFinite(lo) && Math.abs(la) <= 90 && Math.abs(lo) <= 180) out.push(L.latLng(la, lo));
    });
    if (out.length > 1 && out[0].equals(out[out.length - 1])) out.pop();
    return out;
  }
  function writePoly() {
    polyIn.value = pts.map(function (p) { return fix(p.lat) + ', ' + fix(p.lng); }).join('\n');
    changed(polyIn);
  }
  function drawPoly() {
    vertices.forEach(function (m) { map.removeLayer(m); });
    vertices = [];
    if (shape) { map.removeLayer(shape); shape = null; }
    var on = kind() === 'polygon';
    if (undoBtn) { undoBtn.hidden = readonly || !on; undoBtn.disabled = pts.length === 0; }
    if (clearBtn) { clearBtn.hidden = readonly || !on; clearBtn.disabled = pts.length === 0; }
    if (!on) return;
    var style = { color: '#b54708', weight: 2, fillOpacity: 0.12, interactive: false };
    if (pts.length >= 3) shape = L.polygon(pts, style).addTo(map);
    else if (pts.length === 2) shape = L.polyline(pts, style).addTo(map);
    if (readonly) return;
    pts.forEach(function (p, i) {
      var m = L.marker(p, { draggable: true, icon: icon('vertex' + (i === 0 ? ' first' : '')), title: String(i + 1) }).addTo(map);
      m.on('drag', function () { pts[i] = m.getLatLng(); if (shape) shape.setLatLngs(pts); });
      m.on('dragend', function () { pts[i] = m.getLatLng(); writePoly(); });
      vertices.push(m);
    });
  }

  function showMode() {
    var poly = kind() === 'polygon';
    if (circleBox) circleBox.hidden = poly;
    if (polyBox) polyBox.hidden = !poly;
    drawCircle();
    drawPoly();
  }

  function fit() {
    if (kind() === 'circle' && circleValid()) {
      map.fitBounds(L.latLng(num(latIn), num(lonIn)).toBounds(radius() * 3));
    } else if (kind() === 'polygon' && pts.length > 0) {
      map.fitBounds(L.latLngBounds(pts).pad(0.5));
    } else {
      map.setView([parseFloat(el.getAttribute('data-lat')) || 55.7558, parseFloat(el.getAttribute('data-lon')) || 37.6173], 16);
    }
  }

  pts = parsePoly();
  showMode();
  fit();

  if (readonly) return;
  map.on('click', function (e) {
    if (kind() === 'polygon') {
      pts.push(e.latlng);
      writePoly();
      drawPoly();
      return;
    }
    latIn.value = fix(e.latlng.lat);
    lonIn.value = fix(e.latlng.lng);
    if (!(num(radIn) > 0)) radIn.value = 40;
    drawCircle();
    changed(latIn);
    changed(lonIn);
  });
  [latIn, lonIn, radIn].forEach(function (inp) { inp.addEventListener('input', drawCircle); });
  polyIn.addEventListener('input', function () { pts = parsePoly(); drawPoly(); });
  [kindC, kindP].forEach(function (r) {
    if (r) r.addEventListener('change', function () { showMode(); fit(); });
  });
  if (undoBtn) undoBtn.addEventListener('click', function () { pts.pop(); writePoly(); drawPoly(); });
  if (clearBtn) clearBtn.addEventListener('click', function () { pts = []; writePoly(); drawPoly(); });
})();
