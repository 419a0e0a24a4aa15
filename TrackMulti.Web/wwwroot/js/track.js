// The seed's track.js, kept in spirit: initTracker(client) once the FME SDK client exists, then
// track(trafficType, eventName, value, properties) sends the event and reports what happened, instead of swallowing it.
// - 'sdk' mode: the event goes once, through the SDK, whose events URL is this site (/fme/api); the server lands it
//   in S3 and forwards it to FME.
// - 'dual' mode (the seed's): the SDK sends it to FME *and* the page posts it to our server (/api/track).
let fmeClient = null;
let userKey = null;
let trackMode = 'dual';

/** @param client the FME SDK client; @param options.key the user key sent with each event to the server; @param options.mode 'sdk' or 'dual'. */
export function initTracker(client, options = {}) {
  fmeClient = client;
  userKey = options.key ?? null;
  trackMode = options.mode ?? trackMode;
}

/** Changes the user key sent to the server (the FME client keeps the key it was created with). */
export function setUserKey(key) {
  userKey = key;
}

/**
 * @returns {Promise<{fme: {accepted: boolean, reason?: string}, server: {ok: boolean, status: number, body: any} | null}>}
 *   server is null in 'sdk' mode: the SDK itself delivers the event to the server.
 */
export async function track(trafficType, eventName, value, properties = {}) {
  if (!fmeClient) {
    throw new Error('initTracker(client) must be called first');
  }

  // The SDK validates the event itself and returns false for what FME would reject (for example an invalid name).
  let fme;
  try {
    const accepted = fmeClient.track(trafficType, eventName, value, properties);
    fme = accepted ? { accepted: true } : { accepted: false, reason: 'rejected by the FME SDK (see the console)' };
  } catch (error) {
    fme = { accepted: false, reason: error.message };
  }
  if (trackMode === 'sdk') {
    return { fme, server: null };
  }

  const event = { trafficType, name: eventName, value, properties };
  if (userKey) {
    event.key = userKey;
  }
  let server;
  try {
    const response = await fetch('/api/track', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(event),
    });
    server = { ok: response.ok, status: response.status, body: await response.json().catch(() => null) };
  } catch (error) {
    server = { ok: false, status: 0, body: { detail: `server unreachable: ${error.message}` } };
  }
  return { fme, server };
}
