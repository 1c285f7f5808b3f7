/**
 * The self-hash page's behaviour: choose a file, hash it here (hashing.mjs), show what will be sent, send it with
 * a proof of work (pow.mjs) to POST /v1/self-reports, show the reference code.
 *
 * Sending waits for the network: a report made offline (or when the connection drops) stays in this page's memory
 * and is sent as soon as the browser is online again (the `online` event, and a retry every RETRY_MS), while the
 * page stays open. Nothing is written to the device: no cookie, no local storage, so nothing is left behind for
 * someone else using the phone to find.
 */

import { hashFile, pause } from "./hashing.mjs";
import { solve } from "./pow.mjs";

const ENDPOINT = "/v1/self-reports";
const RETRY_MS = 10_000;
const STEPS = ["step-choose", "step-working", "step-hashes", "step-sending", "step-done", "step-error"];
const $ = (id) => document.getElementById(id);
const queue = []; // reports waiting to be sent, in this page's memory only
let current = null; // the hashes of the chosen file
let sending = false;

function show(...ids) {
  for (const id of STEPS) $(id).hidden = !ids.includes(id);
  document.body.dataset.step = ids[ids.length - 1];
}

function fail(message) {
  $("error-text").textContent = message;
  show("step-error");
}

const STAGES = {
  digests: "Reading the file and working out its fingerprint",
  pdq: "Working out the picture's fingerprint",
  vpdq: "Working out the video's fingerprint, one picture a second",
};

async function chosen() {
  const file = $("file").files[0];
  if (!file) return;
  show("step-working");
  try {
    current = await hashFile(file, (stage, fraction) => {
      $("progress").value = fraction;
      $("progress-text").textContent = `${STAGES[stage]}… ${Math.round(fraction * 100)}%`;
    });
  } catch (error) {
    fail(`This file could not be read here: ${error.message || error}. Nothing was sent.`);
    return;
  } finally {
    $("file").value = ""; // the page holds no reference to the file any more
  }
  showHashes(current);
  show("step-hashes");
}

function showHashes(result) {
  const rows = [["Type", result.media_type], ["MD5", result.md5], ["SHA-256", result.sha256]];
  if (result.pdq) rows.push(["PDQ", result.pdq], ["PDQ quality", String(result.quality)]);
  if (result.vpdq) rows.push(["vPDQ", `${result.vpdq.length} fingerprints, one for each second of video`]);
  const list = $("hashes");
  list.replaceChildren();
  for (const [name, value] of rows) {
    const term = document.createElement("dt");
    const detail = document.createElement("dd");
    term.textContent = name;
    detail.textContent = value;
    detail.dataset.hash = name;
    list.append(term, detail);
  }
  $("note").hidden = !result.note;
  $("note").textContent = result.note
    ? "This browser could not open the picture itself, so only the file's fingerprints are sent: they find exact " +
      `copies. (${result.note})` : "";
}

/** What is sent: the hashes, the kind of file and the two answers. Nothing else. */
function reportOf(result) {
  const body = { md5: result.md5, sha256: result.sha256, media_type: result.media_type,
    age_band: $("age-band").value, being_shared: $("being-shared").value };
  if (result.pdq) Object.assign(body, { pdq: result.pdq, quality: result.quality });
  if (result.vpdq) body.vpdq = result.vpdq;
  return body;
}

async function post(path, body) {
  return fetch(path, {
    method: body === undefined ? "GET" : "POST", credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** Send one report: a challenge, its proof of work, the report. The reference, or throws (`offline` when no net). */
async function sendOne(report) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const issued = await post(`${ENDPOINT}/challenge`);
    if (!issued.ok) throw await refusal(issued);
    const { challenge, bits } = await issued.json();
    $("send-text").textContent = "Getting ready to send. This takes a few seconds…";
    const nonce = await solve(challenge, bits, { pause });
    $("send-text").textContent = "Sending the hash…";
    const answer = await post(ENDPOINT, { ...report, challenge, nonce });
    if (answer.status === 201) return (await answer.json()).reference;
    if (answer.status !== 409) throw await refusal(answer); // 409: the challenge was spent: take a new one
  }
  throw new Error("the report could not be sent");
}

async function refusal(answer) {
  let message = `the server answered ${answer.status}`;
  try {
    message = (await answer.json()).error || message;
  } catch {
    // not JSON: keep the status
  }
  const error = new Error(message);
  error.retryAfter = answer.status === 429 ? Number(answer.headers.get("Retry-After") || 60) : null;
  return error;
}

/** Send what waits in the queue, oldest first; on a network failure keep it and try again later. */
async function flush() {
  if (sending || !queue.length) return;
  sending = true;
  $("send-title").textContent = "Sending…";
  show("step-sending");
  try {
    while (queue.length) {
      let reference;
      try {
        reference = await sendOne(queue[0]);
      } catch (error) {
        if (error instanceof TypeError || !navigator.onLine) { // fetch's network error: no connection
          $("send-title").textContent = "Waiting for a connection";
          $("send-text").textContent = "No connection right now. Your report is waiting and will be sent as soon " +
            "as you are back online. Keep this page open.";
          document.body.dataset.queued = String(queue.length);
          setTimeout(flush, RETRY_MS);
          return;
        }
        if (error.retryAfter) {
          $("send-text").textContent = `Too many reports from this connection. Trying again in ${error.retryAfter} s.`;
          setTimeout(flush, error.retryAfter * 1000);
          return;
        }
        queue.shift();
        fail(`The report was not accepted: ${error.message}`);
        return;
      }
      queue.shift();
      document.body.dataset.queued = String(queue.length);
      $("reference").textContent = reference;
      show("step-done");
    }
  } finally {
    sending = false;
  }
}

function restart() {
  current = null;
  $("age-band").value = "not-said";
  $("being-shared").value = "unknown";
  show("step-choose");
}

$("file").addEventListener("change", chosen);
$("send").addEventListener("click", () => {
  queue.push(reportOf(current));
  current = null;
  flush();
});
for (const id of ["again", "another", "retry"]) $(id).addEventListener("click", restart);
window.addEventListener("online", flush);
document.body.dataset.ready = "true";
