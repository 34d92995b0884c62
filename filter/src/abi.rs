//! The one proxy-wasm call the filter makes without the SDK, and the crate's only `unsafe`.
//!
//! `proxy_get_header_map_pairs` hands over the request's headers as one serialized buffer.
//! The SDK's `hostcalls::get_map_bytes` copies every name and value of it into a `String`
//! and a `Vec` of its own: on the static allow path those copies were a third of the
//! filter's wasm instructions (measured with the harness's fuel count). Here the buffer is
//! taken as it is and read in place by `mtls_gate_core::header_map::HeaderMap`.

use proxy_wasm::types::{MapType, Status};
use std::ptr::null_mut;

// The SDK declares the same import (proxy-wasm 0.2.5, `hostcalls.rs`); a wasm module
// imports it once. Plain `u32`s, not the SDK's enums: a status the enum does not list would
// be an invalid value of it.
#[allow(unsafe_code)]
#[link(wasm_import_module = "env")]
unsafe extern "C" {
    fn proxy_get_header_map_pairs(
        map_type: u32,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> u32;
}

/// The request headers as proxy-wasm serializes them; `None` when the host refuses (no
/// request headers in this callback). Never panics, unlike the SDK's call.
#[allow(unsafe_code)]
pub fn request_header_map() -> Option<Vec<u8>> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    // SAFETY: the host writes a pointer and a size through the two out-pointers, which are
    // valid for writes for the duration of the call.
    let map = MapType::HttpRequestHeaders as u32;
    let status = unsafe { proxy_get_header_map_pairs(map, &mut data, &mut size) };
    if status != Status::Ok as u32 {
        return None;
    }
    if data.is_null() {
        return Some(Vec::new());
    }
    // SAFETY: the host allocated the buffer through this module's `proxy_on_memory_allocate`
    // (the SDK's: a boxed slice of exactly `size` bytes, whose ownership passes to the
    // caller), and filled all `size` bytes. So it is a live allocation of this allocator,
    // `size` bytes long with capacity `size`, owned by nobody else: what
    // `Vec::from_raw_parts` requires. The SDK takes the same buffer the same way.
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}
