//! Native proxy-wasm host (wasmtime).
