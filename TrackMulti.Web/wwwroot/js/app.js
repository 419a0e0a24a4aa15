// The page: the FME SDK (key injected by the server), the send and flush buttons, the event log with both outcomes,
// and the server's status and recent objects, refreshed on their own. It talks only to this site's origin.
import { initTracker, setUserKey, track } from './track.js';

const config = JSON.parse(document.getElementById('trackmulti-config').textContent);
const sdkStatus = document.getElementById('sdk-status');
const userKeyInput = document.getElementById('user-key');
const sendButton = document.getElementById('send');
const flushButton = document.getElementById('flush');
const counter = document.getElementById('counter');
const log = document.getElementById('log');
const statusList = document.getElementById('status');
const statusUpdated = document.getElementById('status-updated');
const objectsBody = document.querySelector('#objects tbody');

const localhostMode = config.authorizationKey === 'localhost';
const factory = window.splitio.SplitFactory({
  core: { authorizationKey: config.authorizationKey, key: config.userKey, trafficType: config.trafficType },
  features: config.features,
  startup: { readyTimeout: 5 },
});
let client = factory.client();
userKeyInput.value = config.userKey;
initTracker(client, { key: config.userKey });

function setSdkStatus(text, state) {
  sdkStatus.textContent = text;
  sdkStatus.className = `badge ${state}`;
  sdkStatus.dataset.state = state;
}

function watchReadiness(sdkClient) {
  sdkClient.on(sdkClient.Event.SDK_READY, () => setSdkStatus(localhostMode ? 'ready (localhost mode)' : 'ready', localhostMode ? 'localhost' : 'ready'));
  // With a real key and no route to FME, the SDK times out; events still reach S3 through the server.
  sdkClient.on(sdkClient.Event.SDK_READY_TIMED_OUT, () => setSdkStatus('timed out: FME unreachable, events still go to S3', 'timed-out'));
}
watchReadiness(client);

// A typed user key gets its own SDK client, so FME and S3 see the same key.
userKeyInput.addEventListener('change', () => {
  const key = userKeyInput.value.trim();
  if (!key) {
    userKeyInput.value = config.userKey;
    return;
  }
  client = factory.client(key);
  watchReadiness(client);
  initTracker(client, { key });
  setUserKey(key);
});

function addLogLine(parts) {
  const item = document.createElement('li');
  for (const { text, ok, role } of parts) {
    const span = document.createElement('span');
    span.textContent = text;
    if (ok !== undefined) span.className = ok ? 'ok' : 'failed';
    if (role) span.dataset.role = role;
    item.append(span, ' ');
  }
  log.prepend(item);
  return item;
}

let sent = 0;
sendButton.addEventListener('click', async () => {
  sent += 1;
  counter.textContent = String(sent);
  const n = sent;
  const { fme, server } = await track(config.trafficType, 'button_click', n, {
    timestamp: new Date().toISOString(),
    counter: n,
    userAgent: navigator.userAgent,
    page: location.pathname,
  });
  const serverText = server.ok
    ? `server: stored (open batch ${server.body.batchSize})${server.body.flushed ? `, sealed ${server.body.flushed.filename}` : ''}`
    : `server: refused (${server.status}) ${server.body?.detail ?? server.body?.title ?? ''}`;
  const item = addLogLine([
    { text: `#${n} button_click` },
    { text: fme.accepted ? 'FME: accepted' : `FME: ${fme.reason}`, ok: fme.accepted, role: 'fme' },
    { text: serverText, ok: server.ok, role: 'server' },
  ]);
  item.dataset.event = String(n);
  refreshStatus();
});

flushButton.addEventListener('click', async () => {
  flushButton.disabled = true;
  try {
    // The page header: the Web forwards a flush only with it, so another site's form cannot trigger one.
    const response = await fetch('/api/flush', { method: 'POST', headers: { 'X-TrackMulti-Page': '1' } });
    const body = await response.json().catch(() => ({}));
    const text = response.ok
      ? (body.flushed > 0
        ? `flushed ${body.flushed} event${body.flushed === 1 ? '' : 's'} to ${body.bucket}/${body.filename}`
        : 'flush: nothing pending, every batch is in S3')
      : `flush failed (${response.status}): ${body.detail ?? body.title ?? ''}`;
    addLogLine([{ text, ok: response.ok, role: 'flush' }]);
  } catch (error) {
    addLogLine([{ text: `flush failed: server unreachable (${error.message})`, ok: false, role: 'flush' }]);
  } finally {
    flushButton.disabled = false;
    refreshStatus();
    refreshObjects();
  }
});

const statusFields = [
  ['pendingEvents', 'Events not yet in S3'],
  ['batchSize', 'Open batch'],
  ['maxBatchSize', 'Batch size'],
  ['batchesAwaitingUpload', 'Batches awaiting upload'],
  ['spooledBytes', 'Spooled bytes'],
  ['s3Bucket', 'Bucket'],
  ['region', 'Region'],
  ['lastUploadAt', 'Last upload'],
  ['consecutiveFailures', 'Failed uploads in a row'],
  ['lastError', 'Last upload error'],
  ['spoolFault', 'Spool fault'],
];

async function refreshStatus() {
  try {
    const response = await fetch('/api/status');
    const status = await response.json();
    statusList.replaceChildren(...statusFields.flatMap(([field, label]) => {
      const term = document.createElement('dt');
      term.textContent = label;
      const value = document.createElement('dd');
      value.dataset.field = field;
      const raw = status[field];
      value.textContent = raw === null || raw === undefined ? '—'
        : field === 'lastUploadAt' ? new Date(raw).toLocaleTimeString() : String(raw);
      if ((field === 'consecutiveFailures' && raw > 0) || (field === 'spoolFault' && raw)) value.className = 'failed';
      return [term, value];
    }));
    statusUpdated.textContent = `(updated ${new Date().toLocaleTimeString()})`;
  } catch (error) {
    statusUpdated.textContent = `(server unreachable: ${error.message})`;
  }
}

async function refreshObjects() {
  try {
    const response = await fetch('/api/objects?limit=10');
    if (!response.ok) return;
    const { objects } = await response.json();
    objectsBody.replaceChildren(...objects.map((o) => {
      const row = document.createElement('tr');
      for (const text of [o.key, o.events ?? '?', o.bytes, o.lastModified ? new Date(o.lastModified).toLocaleTimeString() : '']) {
        const cell = document.createElement('td');
        cell.textContent = String(text);
        row.append(cell);
      }
      return row;
    }));
  } catch {
    // The status panel already says when the server is unreachable.
  }
}

refreshStatus();
refreshObjects();
setInterval(refreshStatus, 3000);
setInterval(refreshObjects, 10000);

// For tests and the console: the live client and the tracker.
window.trackmulti = { get client() { return client; }, track };
