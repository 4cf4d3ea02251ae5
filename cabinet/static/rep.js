// Report pages. The download page polls its job and fetches the file when
// it is ready; the schedule form shows the cron fields only for a custom
// schedule and asks before deleting. Without JavaScript the pages still
// work (the job page refreshes itself, every field stays visible).
(function () {
  'use strict';

  function fill(tpl, a, b) {
    return tpl.replace('%d', a).replace('%d', b);
  }

  function poll(box) {
    var text = document.getElementById('rep-job-text');
    var bar = document.getElementById('rep-progress');
    var file = document.getElementById('rep-job-file');
    var link = document.getElementById('rep-download');
    var name = document.getElementById('rep-file-name');
    var delay = 700;

    function show(j) {
      if (j.total > 0) {
        bar.max = j.total;
        bar.value = j.state === 'done' ? j.total : j.done;
      } else if (j.state === 'done') {
        bar.max = 1;
        bar.value = 1;
      } else {
        bar.removeAttribute('value'); // indeterminate until the count is known
      }
      if (j.state === 'queued') {
        text.textContent = box.dataset.tQueued;
      } else if (j.state === 'running') {
        text.textContent = j.total > 0 ? fill(box.dataset.tProgress, j.done, j.total) : box.dataset.tRunning;
      } else if (j.state === 'done') {
        text.textContent = box.dataset.tDone;
        link.href = j.file;
        name.textContent = j.name || '';
        file.hidden = false;
      } else {
        text.textContent = j.error || j.state;
        text.className = 'field-error';
      }
    }

    function tick() {
      fetch(box.dataset.status, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
        .then(function (r) {
          if (r.status === 404) { throw new Error('gone'); }
          return r.json();
        })
        .then(function (j) {
          show(j);
          if (j.state === 'done') {
            try { sessionStorage.setItem('rep-downloaded:' + box.dataset.status, '1'); } catch (e) { /* private mode */ }
            link.click(); // the file comes as an attachment: the page stays
            return;
          }
          if (j.state === 'queued' || j.state === 'running') {
            delay = Math.min(delay * 1.3, 3000);
            setTimeout(tick, delay);
          }
        })
        .catch(function (e) {
          if (e.message === 'gone') {
            text.textContent = box.dataset.tGone;
            return;
          }
          setTimeout(tick, 3000); // network hiccup: keep trying
        });
    }
    tick();
  }

  var box = document.getElementById('rep-job');
  if (box && (box.dataset.state === 'queued' || box.dataset.state === 'running')) {
    poll(box);
  } else if (box && box.dataset.state === 'done') {
    // A small report can be ready before its page loads: fetch it once per
    // job and tab (a reload does not download it again).
    var key = 'rep-downloaded:' + box.dataset.status;
    var link = document.getElementById('rep-download');
    var seen = false;
    try { seen = sessionStorage.getItem(key) === '1'; sessionStorage.setItem(key, '1'); } catch (e) { seen = true; }
    if (!seen && link) {
      link.click();
    }
  }

  // Schedule form: the cron spec and period matter only for "custom".
  var preset = document.getElementById('preset');
  if (preset) {
    var custom = document.querySelectorAll('.rep-custom');
    var sync = function () {
      for (var i = 0; i < custom.length; i++) { custom[i].hidden = preset.value !== 'custom'; }
    };
    preset.addEventListener('change', sync);
    sync();
  }

  var dels = document.querySelectorAll('form.rep-delete');
  for (var i = 0; i < dels.length; i++) {
    dels[i].addEventListener('submit', function (ev) {
      if (!window.confirm(this.dataset.confirm)) { ev.preventDefault(); }
    });
  }
})();
