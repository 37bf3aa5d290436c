import { launch, serve } from './harness.mjs';
const server = await serve('/work/main/dist');
const { context, page } = await launch('/tmp/prof-' + Date.now());
await page.goto(server.url + '/?backend=cpu');
const r = await page.evaluate(async () => {
  const adapter = await navigator.gpu.requestAdapter();
  const device = await adapter.requestDevice();
  const code = `@group(0) @binding(0) var<storage, read_write> out: array<f32>;
  @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    var x = f32(id.x);
    for (var i = 0u; i < 20000u; i++) { x = sin(x) * 1.0001 + 0.5; }
    out[id.x] = x; }`;
  const t0 = performance.now();
  const module = device.createShaderModule({ code });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const t1 = performance.now();
  const buf = device.createBuffer({ size: 4 * 65536, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: 4 * 65536, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const bg = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }] });
  let lag = 0, last = performance.now();
  const iv = setInterval(() => { const n = performance.now(); lag = Math.max(lag, n - last - 10); last = n; }, 10);
  const t2 = performance.now();
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass(); pass.setPipeline(pipeline); pass.setBindGroup(0, bg); pass.dispatchWorkgroups(1024); pass.end();
  enc.copyBufferToBuffer(buf, 0, read, 0, 4 * 65536);
  device.queue.submit([enc.finish()]);
  const t3 = performance.now();
  await read.mapAsync(GPUMapMode.READ);
  const t4 = performance.now();
  clearInterval(iv);
  return { pipeline_ms: t1 - t0, submit_ms: t3 - t2, gpu_ms: t4 - t3, max_lag_ms: lag };
});
console.log(r);
await context.close(); server.close();
