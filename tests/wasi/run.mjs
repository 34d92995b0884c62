// Runs a wasm32-wasip1 program, such as a test binary (cargo's runner for that target, set
// by `make test-wasm`), under Node's WASI and V8, Envoy's own wasm engine:
//   node tests/wasi/run.mjs FILE.wasm [ARGS...]
// The program sees FILE.wasm ARGS... as its arguments, the RUST_* variables of this process
// as its environment, no directory, and this process's stdout and stderr. Its exit code is
// this process's.
import { readFile } from "node:fs/promises";
import { WASI } from "node:wasi";
import { argv, env, exit } from "node:process";

const [file, ...args] = argv.slice(2);
if (!file) {
  console.error("usage: node tests/wasi/run.mjs FILE.wasm [ARGS...]");
  exit(2);
}
const wasi = new WASI({
  version: "preview1",
  args: [file, ...args],
  env: Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith("RUST_"))),
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
exit(wasi.start(instance));
