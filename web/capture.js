// The page's camera and microphone (getUserMedia), for capture and live prediction.
// The Rust page calls these through wasm-bindgen (web/src/capture.rs); nothing runs at
// import, so the engine's worker, which loads the same module, never touches them.

let camera = null; // { stream, video }
let microphone = null; // { stream, context, source }

/** Opens the camera into the <video> with id `videoId`; resolves when it plays. */
export async function openCamera(videoId) {
  closeCamera();
  if (!navigator.mediaDevices?.getUserMedia) throw new Error('this browser offers no camera access (getUserMedia)');
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: false });
  const video = document.getElementById(videoId);
  if (!video) { stream.getTracks().forEach((t) => t.stop()); throw new Error(`no <video id=${videoId}>`); }
  video.muted = true;
  video.srcObject = stream;
  await video.play();
  camera = { stream, video };
}

export function closeCamera() {
  camera?.stream.getTracks().forEach((t) => t.stop());
  if (camera) camera.video.srcObject = null;
  camera = null;
}

export function cameraOpen() { return camera !== null; }

/** A PNG of the centre square of the camera's picture, `side` pixels wide. */
export async function grabFrame(side) {
  if (!camera) throw new Error('the camera is not on');
  const { video } = camera;
  const w = video.videoWidth;
  const h = video.videoHeight;
  if (!w || !h) throw new Error('the camera has no picture yet');
  const s = Math.min(w, h);
  const canvas = new OffscreenCanvas(side, side);
  canvas.getContext('2d').drawImage(video, (w - s) / 2, (h - s) / 2, s, s, 0, 0, side, side);
  const blob = await canvas.convertToBlob({ type: 'image/png' });
  return new Uint8Array(await blob.arrayBuffer());
}

/**
 * Opens the microphone; resolves to its sample rate. One ScriptProcessor listens from
 * then on and fills the clip being recorded, if any (a node made per clip can be
 * collected as garbage, and stops, once nothing refers to it). It is deprecated but
 * needs no worklet file, and clips of a second are what it does well.
 */
export async function openMicrophone() {
  closeMicrophone();
  if (!navigator.mediaDevices?.getUserMedia) throw new Error('this browser offers no microphone access (getUserMedia)');
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false }, video: false });
  const context = new AudioContext();
  await context.resume();
  const source = context.createMediaStreamSource(stream);
  const node = context.createScriptProcessor(2048, 1, 1);
  const mic = { stream, context, source, node, clip: null };
  node.onaudioprocess = (e) => {
    const clip = mic.clip;
    if (!clip) return;
    const x = e.inputBuffer.getChannelData(0);
    const k = Math.min(x.length, clip.out.length - clip.at);
    clip.out.set(x.subarray(0, k), clip.at);
    clip.at += k;
    let sum = 0;
    for (let i = 0; i < x.length; i++) sum += x[i] * x[i];
    clip.onLevel(Math.sqrt(sum / x.length));
    if (clip.at >= clip.out.length) {
      mic.clip = null;
      clip.resolve(clip.out);
    }
  };
  source.connect(node);
  node.connect(context.destination);
  microphone = mic;
  return context.sampleRate;
}

export function closeMicrophone() {
  if (!microphone) return;
  microphone.clip?.reject(new Error('the microphone was stopped'));
  microphone.stream.getTracks().forEach((t) => t.stop());
  microphone.node.disconnect();
  microphone.context.close();
  microphone = null;
}

export function microphoneOpen() { return microphone !== null; }

/**
 * Records `seconds` of the microphone: resolves to its samples (Float32Array, -1..1,
 * mono, at the microphone's sample rate); `onLevel(rms)` hears the level as it goes.
 */
export function recordClip(seconds, onLevel) {
  if (!microphone) return Promise.reject(new Error('the microphone is not on'));
  if (microphone.clip) return Promise.reject(new Error('a clip is being recorded already'));
  const n = Math.max(1, Math.round(seconds * microphone.context.sampleRate));
  return new Promise((resolve, reject) => {
    microphone.clip = { out: new Float32Array(n), at: 0, onLevel, resolve, reject };
  });
}

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }
