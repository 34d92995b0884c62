//! The proxy-wasm calls the filter makes on every request without the SDK, and the crate's
//! only `unsafe`. Each is the SDK's call minus work the request path paid for (measured
//! with the harness's fuel count, `tests/harness/tests/host_calls.rs`), and minus the SDK's
//! `panic!` on a status it does not expect: a panic traps the VM.
//!
//! - `proxy_get_header_map_pairs` hands over the request's headers as one serialized
//!   buffer. The SDK's `hostcalls::get_map_bytes` copies every name and value of it into a
//!   `String` and a `Vec` of its own: on the static allow path those copies were a third of
//!   the filter's wasm instructions. Here the buffer is taken as it is and read in place by
//!   `mtls_gate_core::header_map::HeaderMap`.
//! - `proxy_get_property` takes the path as its parts joined by NUL. The SDK builds that
//!   from a `Vec` of parts, two allocations per read; here it is written on the stack.
//! - `proxy_get_current_time_nanoseconds`: the SDK returns a `SystemTime`, which the gate
//!   only turned back into milliseconds through 128-bit arithmetic (a libcall in wasm).

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
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
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
    Some(take_host_buffer(data, size).unwrap_or_default())
}

/// The longest property path written on the stack; a longer one is refused (`None`). The
/// gate's own paths (`mtls_gate_core::host_facts::property`) are all far shorter.
const MAX_PROPERTY_PATH: usize = 128;

/// A property by its dotted path (`connection.sha256_peer_certificate_digest`), as raw
/// bytes; `None` when absent, refused, or the path is longer than [`MAX_PROPERTY_PATH`].
/// As the SDK reads it: a value the host returns without a buffer is `None`.
#[allow(unsafe_code)]
pub fn property(dotted_path: &str) -> Option<Vec<u8>> {
    let mut path = [0u8; MAX_PROPERTY_PATH];
    let serialized = path.get_mut(..dotted_path.len())?;
    // The parts joined by NUL: the dots become NULs. A part never holds a dot (the SDK
    // splits the same way).
    for (out, byte) in serialized.iter_mut().zip(dotted_path.bytes()) {
        *out = if byte == b'.' { 0 } else { byte };
    }
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    // SAFETY: `serialized` is valid for reads of its length for the duration of the call;
    // the host writes a pointer and a size through the two out-pointers, valid for writes.
    let status =
        unsafe { proxy_get_property(serialized.as_ptr(), serialized.len(), &mut data, &mut size) };
    if status != Status::Ok as u32 {
        return None;
    }
    take_host_buffer(data, size)
}

/// The host clock in nanoseconds since the Unix epoch; `None` if the host refuses.
#[allow(unsafe_code)]
pub fn now_nanos() -> Option<u64> {
    let mut nanos: u64 = 0;
    // SAFETY: the host writes one `u64` through the out-pointer, valid for writes.
    let status = unsafe { proxy_get_current_time_nanoseconds(&mut nanos) };
    (status == Status::Ok as u32).then_some(nanos)
}

/// Takes ownership of a buffer the host returned; `None` for a null pointer (no value).
#[allow(unsafe_code)]
fn take_host_buffer(data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if data.is_null() {
        return None;
    }
    // SAFETY: the host allocated the buffer through this module's `proxy_on_memory_allocate`
    // (the SDK's: a boxed slice of exactly `size` bytes, whose ownership passes to the
    // caller), and filled all `size` bytes. So it is a live allocation of this allocator,
    // `size` bytes long with capacity `size`, owned by nobody else: what
    // `Vec::from_raw_parts` requires. The SDK takes the same buffers the same way.
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}
