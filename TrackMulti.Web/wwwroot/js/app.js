// The page: the FME SDK (key injected by the server), the experiment it shows, the send and flush buttons, the event
// log saying where each event went, and the server's status and recent objects, refreshed on their own. It talks only
// to this site's origin (and, with a real key, to the FME SDK hosts the server configured).
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
const objectsEmpty = document.querySelector('#objects-empty');

const treatmentOutput = document.getElementById('treatment');
document.getElementById('demo-flag').textContent = config.demoFlag;

const localhostMode = config.authorizationKey === 'localhost';
const sdkMode = config.trackMode === 'sdk';
// sdk mode: events and impressions go to this origin, which forwards them to TrackMulti's Api.
const urls = {};
if (config.eventsPath) urls.events = new URL(config.eventsPath, window.location.origin).href;
// A configured SDK host (a proxy or a stand-in) serves flags and takes telemetry; it has no streaming.
if (config.sdkUrl) Object.assign(urls, { sdk: config.sdkUrl, auth: config.sdkUrl, telemetry: config.sdkUrl });
const factory = window.splitio.SplitFactory({
  core: { authorizationKey: config.authorizationKey, key: config.userKey, trafficType: config.trafficType },
  features: config.features,
  startup: { readyTimeout: 5 },
  urls,
  streamingEnabled: !config.sdkUrl,
});
let client = factory.client();
userKeyInput.value = config.userKey;
initTracker(client, { key: config.userKey, mode: config.trackMode });

function setSdkStatus(text, state) {
  sdkStatus.textContent = text;
  sdkStatus.className = `badge ${state}`;
  sdkStatus.dataset.state = state;
}

// Where an impression goes: to TrackMulti (sdk mode), to FME directly (dual), nowhere (localhost mode).
const impressionsGo = localhostMode ? 'not sent (localhost mode)' : sdkMode ? 'impression sent to TrackMulti (S3 and FME)' : 'impression sent to FME';

// The experiment: the flag's treatment decides the send button's variant, as on a product page.
function showTreatment(sdkClient) {
  const treatment = sdkClient.getTreatment(config.demoFlag);
  treatmentOutput.textContent = treatment;
  treatmentOutput.dataset.treatment = treatment;
  treatmentOutput.className = `badge ${treatment === 'control' ? 'timed-out' : 'ready'}`;
  sendButton.dataset.variant = treatment;
  addLogLine([{ text: `experiment ${config.demoFlag}: ${treatment}` }, { text: treatment === 'control' ? 'no treatment (SDK not ready)' : impressionsGo, role: 'impression' }]);
}

function watchReadiness(sdkClient) {
  sdkClient.on(sdkClient.Event.SDK_READY, () => {
    setSdkStatus(localhostMode ? 'ready (localhost mode)' : 'ready', localhostMode ? 'localhost' : 'ready');
    showTreatment(sdkClient);
  });
  // With a real key and no route to FME, the SDK times out; events still reach S3 through the server.
  sdkClient.on(sdkClient.Event.SDK_READY_TIMED_OUT, () => {
    setSdkStatus('timed out: FME unreachable, events still go to S3', 'timed-out');
    showTreatment(sdkClient);
  });
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
  initTracker(client, { key, mode: config.trackMode });
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
  const parts = [{ text: `#${n} button_click` }];
  if (server === null) {
    // sdk mode: one send; the SDK posts its queue to TrackMulti (within a minute, or when the page closes).
    parts.push({ text: fme.accepted ? 'queued in the FME SDK, which sends it to TrackMulti (S3 and FME)' : `FME SDK: ${fme.reason}`, ok: fme.accepted, role: 'fme' });
  } else {
    const serverText = server.ok
      ? `server: stored (open batch ${server.body.batchSize})${server.body.flushed ? `, sealed ${server.body.flushed.filename}` : ''}`
      : `server: refused (${server.status}) ${server.body?.detail ?? server.body?.title ?? ''}`;
    parts.push(
      { text: localhostMode ? 'FME SDK: accepted (localhost mode: sent nowhere)' : fme.accepted ? 'FME: accepted' : `FME: ${fme.reason}`, ok: fme.accepted, role: 'fme' },
      { text: serverText, ok: server.ok, role: 'server' });
  }
  const item = addLogLine(parts);
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
    objectsEmpty.hidden = objects.length > 0;
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
