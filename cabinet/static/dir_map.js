// Map of all clients' homes: each geofence with a marker linking to the
// client. Data comes from the page (#clients-data), already scoped.
(function () {
  'use strict';
  var el = document.getElementById('clients-map');
  var src = document.getElementById('clients-data');
  if (!el || !src || !window.L) return;
  var homes = JSON.parse(src.textContent || '[]') || [];
  var map = L.map(el, { maxZoom: 19 });
  var tiles = el.getAttribute('data-tiles');
  if (tiles) {
    L.tileLayer(tiles, { maxZoom: 19, attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>' }).addTo(map);
  }
  var bounds = L.latLngBounds([]);
  homes.forEach(function (h) {
    var shape, anchor;
    if (h.kind === 'polygon' && h.poly && h.poly.length) {
      shape = L.polygon(h.poly.map(function (p) { return [p[1], p[0]]; }), { color: '#b54708', weight: 2, fillOpacity: 0.15 });
      anchor = shape.getBounds().getCenter();
      bounds.extend(shape.getBounds());
    } else {
      anchor = L.latLng(h.lat, h.lon);
      shape = L.circle(anchor, { radius: h.r, color: '#1f5fae', weight: 2, fillOpacity: 0.15 });
      bounds.extend(anchor.toBounds(h.r * 2));
    }
    // Built with DOM nodes, not HTML strings: names are data.
    var box = document.createElement('div');
    var a = document.createElement('a');
    a.href = '/staff/clients/' + h.id;
    a.textContent = h.name;
    box.appendChild(a);
    if (h.address) {
      var p = document.createElement('div');
      p.textContent = h.address;
      box.appendChild(p);
    }
    shape.addTo(map).bindPopup(box);
    L.marker(anchor, { icon: L.divIcon({ className: 'dir-home', iconSize: null }), title: h.name, alt: h.name })
      .addTo(map).bindPopup(box);
  });
  if (bounds.isValid()) map.fitBounds(bounds.pad(0.1));
  else map.setView([55.7558, 37.6173], 11);
})();
