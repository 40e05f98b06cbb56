// The pair page (/pair#CODE): trades the one-time code in the URL's fragment for this device's
// own session cookie (POST /api/pair), then opens the app. The fragment is dropped from the
// address bar first, so the code does not linger in history once used.

const status = document.getElementById('pair-status');
const title = document.querySelector('h1');
const open = document.getElementById('pair-open');

function fail(message) {
  title.textContent = 'This device is not paired';
  status.textContent = message;
  status.classList.add('error');
  open.hidden = false;
  open.textContent = 'Open OrbitDock anyway';
}

async function pair() {
  const code = decodeURIComponent(location.hash.replace(/^#/, '')).trim();
  history.replaceState(null, '', location.pathname);
  if (!code) {
    fail('This link has no pairing code. Create one with `orbitdock pair` or "Pair a device" in the Devices sheet.');
    return;
  }
  let res;
  try {
    res = await fetch('/api/pair', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ code }),
    });
  } catch (err) {
    fail(`Cannot reach the OrbitDock server (${err && err.message ? err.message : err}).`);
    return;
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    // An answer without JSON is reported by its status below.
  }
  if (!res.ok) {
    const why = data && data.error && data.error.message ? data.error.message : `HTTP ${res.status}`;
    fail(`${why}.`);
    return;
  }
  title.textContent = `Paired as ${data.name}`;
  status.textContent = 'Opening OrbitDock…';
  location.replace('/');
}

pair();
