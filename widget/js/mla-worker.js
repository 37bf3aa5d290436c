// The widget's worker: one per page, holding the wasm module, the one device every
// classifier of the page shares, and the loaded models, so that predicting never blocks
// the page's thread (Burn's WebGPU dispatch alone would, for the whole prediction).
// mla-classifier.js starts it and talks to it; it only relays to the wasm-bindgen API.
import init, { Classifier, encodeWav } from './mla_widget.js';

const started = init();
const models = new Map();
let nextKey = 1;

async function handle(op, args) {
  await started;
  switch (op) {
    case 'load': {
      const [source, options] = args;
      const clf = typeof source === 'string'
        ? await Classifier.fromUrl(source, options)
        : await Classifier.fromBytes(source, options);
      const key = nextKey++;
      models.set(key, clf);
      return { key, info: clf.info };
    }
    case 'predict': {
      const [key, input] = args;
      const clf = models.get(key);
      if (!clf) throw new Error('this classifier was freed');
      return clf.predict(input);
    }
    case 'wav': {
      const [samples, from, to] = args;
      return encodeWav(samples, from, to);
    }
    case 'free': {
      models.get(args[0])?.free();
      models.delete(args[0]);
      return null;
    }
    default:
      throw new Error(`unknown request ${op}`);
  }
}

self.onmessage = async ({ data: { id, op, args } }) => {
  try {
    self.postMessage({ id, result: await handle(op, args) });
  } catch (e) {
    self.postMessage({ id, error: e instanceof Error ? e.message : String(e) });
  }
};
