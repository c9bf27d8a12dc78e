// amber2 web page: upload or record a clip, add a transcript, show the distribution per head.
// Plain JavaScript, no build step. Recordings (webm/ogg from MediaRecorder) and files the server may not
// decode are converted in the browser to 16 kHz mono 16-bit WAV with WebAudio, so no ffmpeg is needed.
"use strict";

const TARGET_RATE = 16000;
const SERVER_DECODES = /\.(wav|wave|flac|ogg|oga|mp3)$/i;

const $ = (id) => document.getElementById(id);
const state = { clip: null, filename: null, recorder: null, chunks: [], info: null };

function setStatus(text, isError = false) {
  const s = $("status");
  s.textContent = text;
  s.className = isError ? "error" : "";
}

function fmt(x, digits = 3) {
  return x === null || x === undefined ? "n/a" : Number(x).toFixed(digits);
}

// ---------------------------------------------------------------- WAV encoding (PCM 16-bit, mono)
function encodeWav(samples, rate) {
  const buffer = new ArrayBuffer(44 + samples.length * 2);
  const view = new DataView(buffer);
  const writeStr = (off, s) => { for (let i = 0; i < s.length; i++) view.setUint8(off + i, s.charCodeAt(i)); };
  writeStr(0, "RIFF");
  view.setUint32(4, 36 + samples.length * 2, true);
  writeStr(8, "WAVE");
  writeStr(12, "fmt ");
  view.setUint32(16, 16, true);          // PCM chunk size
  view.setUint16(20, 1, true);           // PCM
  view.setUint16(22, 1, true);           // mono
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true);    // byte rate
  view.setUint16(32, 2, true);           // block align
  view.setUint16(34, 16, true);          // bits per sample
  writeStr(36, "data");
  view.setUint32(40, samples.length * 2, true);
  let off = 44;
  for (let i = 0; i < samples.length; i++, off += 2) {
    const v = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(off, v < 0 ? v * 0x8000 : v * 0x7fff, true);
  }
  return new Blob([buffer], { type: "audio/wav" });
}

async function toWav(blob) {
  // Decode any format the browser knows, downmix and resample to 16 kHz mono, encode as WAV.
  const bytes = await blob.arrayBuffer();
  const AC = window.AudioContext || window.webkitAudioContext;
  const ctx = new AC();
  let decoded;
  try {
    decoded = await ctx.decodeAudioData(bytes);
  } finally {
    if (ctx.close) ctx.close();
  }
  const length = Math.max(1, Math.ceil(decoded.duration * TARGET_RATE));
  const offline = new OfflineAudioContext(1, length, TARGET_RATE);
  const src = offline.createBufferSource();
  src.buffer = decoded;
  src.connect(offline.destination);   // a 1-channel destination averages the channels
  src.start();
  const rendered = await offline.startRendering();
  return encodeWav(rendered.getChannelData(0), TARGET_RATE);
}

// ---------------------------------------------------------------- clip selection
function useClip(blob, filename, note) {
  state.clip = blob;
  state.filename = filename;
  const preview = $("preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(blob);
  preview.hidden = false;
  $("clip-info").textContent = `${filename} — ${(blob.size / 1024).toFixed(1)} KiB${note ? " — " + note : ""}`;
  $("predict").disabled = false;
}

async function onFile(ev) {
  const file = ev.target.files[0];
  if (!file) return;
  if (SERVER_DECODES.test(file.name)) {
    useClip(file, file.name, "");
    return;
  }
  setStatus("converting to WAV in the browser…");
  try {
    const wav = await toWav(file);
    useClip(wav, file.name.replace(/\.[^.]*$/, "") + ".wav", "converted to 16 kHz WAV");
    setStatus("");
  } catch (err) {
    // Let the server decide (it answers 415 with an explanation if it cannot decode it either).
    useClip(file, file.name, "sent as is");
    setStatus("");
  }
}

async function startRecording() {
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    setStatus("recording is not supported by this browser", true);
    return;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    state.chunks = [];
    const rec = new MediaRecorder(stream);
    rec.ondataavailable = (e) => { if (e.data && e.data.size) state.chunks.push(e.data); };
    rec.onstop = async () => {
      stream.getTracks().forEach((t) => t.stop());
      const raw = new Blob(state.chunks, { type: rec.mimeType || "audio/webm" });
      setStatus("converting the recording to WAV…");
      try {
        useClip(await toWav(raw), "recording.wav", "recorded");
        setStatus("");
      } catch (err) {
        setStatus("could not decode the recording: " + err, true);
      }
    };
    rec.start();
    state.recorder = rec;
    $("record").disabled = true;
    $("stop").disabled = false;
    setStatus("recording… press Stop when done");
  } catch (err) {
    setStatus("microphone unavailable: " + err.message, true);
  }
}

function stopRecording() {
  if (state.recorder && state.recorder.state !== "inactive") state.recorder.stop();
  $("record").disabled = false;
  $("stop").disabled = true;
}

// ---------------------------------------------------------------- results
function headTitle(head, res) {
  if (head === res.student) return `${head} (student${head === res.head ? ", prediction" : ""})`;
  if (head === res.head) return `${head} (expert, prediction)`;
  return `${head} (expert)`;
}

function renderHead(head, dist, res) {
  const box = document.createElement("div");
  box.className = "head" + (head === res.head ? " student" : "");
  box.dataset.head = head;
  const h = document.createElement("h3");
  h.textContent = headTitle(head, res);
  box.appendChild(h);
  const probs = res.classes.map((c) => dist[c]);
  const top = probs.indexOf(Math.max(...probs));
  res.classes.forEach((c, i) => {
    const p = dist[c];
    const row = document.createElement("div");
    row.className = "bar-row" + (i === top ? " top" : "");
    row.dataset.head = head;
    row.dataset.class = c;
    row.dataset.prob = String(p);
    const label = document.createElement("span");
    label.className = "bar-label";
    label.textContent = c;
    const track = document.createElement("div");
    track.className = "bar-track";
    const fill = document.createElement("div");
    fill.className = "bar-fill";
    fill.style.width = (100 * p).toFixed(2) + "%";
    track.appendChild(fill);
    const value = document.createElement("span");
    value.className = "bar-value";
    value.textContent = (100 * p).toFixed(1) + "%";
    row.append(label, track, value);
    box.appendChild(row);
  });
  return box;
}

function render(res) {
  const results = $("results");
  $("label").textContent = res.label;
  $("confidence").textContent = `(${(100 * res.confidence).toFixed(1)}%)`;
  $("head-note").textContent = `from the ${res.head} head`;
  $("entropy").textContent = `${fmt(res.entropy)} bits of ${fmt(res.max_entropy, 2)}`;
  $("entropy").dataset.value = String(res.entropy);
  $("entropy-gauge").style.width = (100 * res.entropy / res.max_entropy).toFixed(1) + "%";
  const conflict = $("conflict");
  if (res.conflict === null || res.conflict === undefined) {
    conflict.textContent = "n/a (one modality)";
    conflict.dataset.value = "";
    $("conflict-gauge").style.width = "0";
  } else {
    conflict.textContent = fmt(res.conflict);
    conflict.dataset.value = String(res.conflict);
    $("conflict-gauge").style.width = (100 * res.conflict).toFixed(1) + "%";
  }
  const note = $("partial-note");
  note.hidden = !res.partial;
  note.textContent = res.partial
    ? `No ${res.missing.join(" / ")} input: this prediction comes from the ${res.head} head alone.` : "";
  const heads = $("heads");
  heads.innerHTML = "";
  const order = Object.keys(res.heads).sort((a, b) => (a === res.head ? -1 : b === res.head ? 1 : 0));
  order.forEach((h) => heads.appendChild(renderHead(h, res.heads[h], res)));
  results.hidden = false;
  results.dataset.state = "done";
}

async function predict() {
  if (!state.clip) return;
  const form = new FormData();
  form.append("file", state.clip, state.filename);
  const text = $("transcript").value.trim();
  if (text) form.append("transcript", text);
  $("predict").disabled = true;
  $("results").dataset.state = "loading";
  setStatus("predicting…");
  try {
    const resp = await fetch("/predict", { method: "POST", body: form });
    const body = await resp.json().catch(() => ({ detail: `HTTP ${resp.status}` }));
    if (!resp.ok) {
      $("results").dataset.state = "error";
      setStatus(`error ${resp.status}: ${body.detail || "request failed"}`, true);
      return;
    }
    render(body);
    setStatus(`done (${body.duration ? body.duration.toFixed(2) + " s of audio" : "no audio"})`);
  } catch (err) {
    $("results").dataset.state = "error";
    setStatus("request failed: " + err, true);
  } finally {
    $("predict").disabled = false;
  }
}

// ---------------------------------------------------------------- start
async function loadInfo() {
  try {
    const info = await (await fetch("/health")).json();
    state.info = info;
    const m = info.model;
    $("model-info").textContent =
      `classes: ${m.classes.join(", ")} · heads: ${m.heads.join(", ")} (student: ${m.student})` +
      (m.objective ? ` · trained with ${m.objective}` : "");
    $("version").textContent = info.version;
    $("limits").textContent = `${info.limits.max_upload_mb} MiB, ${info.limits.max_duration_s} s per clip`;
  } catch (err) {
    $("model-info").textContent = "could not reach the service: " + err;
  }
}

$("file").addEventListener("change", onFile);
$("record").addEventListener("click", startRecording);
$("stop").addEventListener("click", stopRecording);
$("predict").addEventListener("click", predict);
loadInfo();
