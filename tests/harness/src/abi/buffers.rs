//! `proxy_get_buffer_bytes` / `proxy_set_buffer_bytes` with Envoy's rules.
//!
//! Buffer types (SDK `BufferType`): 0 request body, 1 response body, 2 downstream data,
//! 3 upstream data, 4 HTTP call response body, 5 gRPC receive buffer, 6 VM configuration,
//! 7 plugin configuration, 8 call data.
//! - A buffer that does not exist in this context is `NotFound`; a type past 8 is
//!   `BadArgument`.
//! - Reads are clamped to the buffer; a read of 0 bytes returns `Ok` without writing the
//!   return slots (the SDK then sees `None`).
//! - The plugin configuration exists only during `proxy_on_configure`.
//! - Body writes follow Envoy's `Buffer::copyFrom`: at start 0, drop `size` bytes and
//!   prepend; at or past the end, append; anything else is `BadArgument`. Other buffers
//!   are read-only (`Unimplemented`).

use super::memory::{addr, copy_out, read};
use super::{CallResult, Ctx, count_call, status};
use crate::state::WorkerState;
use crate::status::Status;
use wasmtime::Linker;

pub(super) fn register(linker: &mut Linker<WorkerState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_buffer_bytes",
        |mut c: Ctx, kind: i32, start: i32, max: i32, ptr_out: i32, size_out: i32| {
            count_call(&mut c, "proxy_get_buffer_bytes");
            status(get(&mut c, kind, start, max, ptr_out, size_out))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_buffer_bytes",
        |mut c: Ctx, kind: i32, start: i32, size: i32, ptr: i32, len: i32| {
            count_call(&mut c, "proxy_set_buffer_bytes");
            status(set(&mut c, kind, start, size, ptr, len))
        },
    )?;
    Ok(())
}

fn buffer(state: &mut WorkerState, kind: i32) -> Result<Option<Vec<u8>>, Status> {
    if !(0..=8).contains(&kind) {
        return Err(Status::BadArgument);
    }
    let effective = state.effective;
    let stream = state.streams.get(&effective);
    Ok(match kind {
        0 => stream.and_then(|s| s.request_body.clone()),
        1 => stream.and_then(|s| s.response_body.clone()),
        4 => state.call_response.as_ref().map(|r| r.body.clone()),
        6 => Some(state.host.settings().vm_config.clone()),
        7 if state.in_configure => Some(state.plugin_config.clone()),
        _ => None,
    })
}

fn get(c: &mut Ctx, kind: i32, start: i32, max: i32, ptr_out: i32, size_out: i32) -> CallResult {
    let data = buffer(c.data_mut(), kind)?.ok_or(Status::NotFound)?;
    let start = addr(start);
    let end = start.checked_add(addr(max)).ok_or(Status::BadArgument)?;
    let slice = data.get(start..end.min(data.len())).unwrap_or_default();
    if slice.is_empty() {
        return Ok(());
    }
    copy_out(c, slice, ptr_out, size_out)
}

fn set(c: &mut Ctx, kind: i32, start: i32, size: i32, ptr: i32, len: i32) -> CallResult {
    let value = read(c, ptr, len)?;
    let state = c.data_mut();
    if !(0..=8).contains(&kind) {
        return Err(Status::BadArgument.into());
    }
    let effective = state.effective;
    let body = match (kind, state.streams.get_mut(&effective)) {
        (0, Some(stream)) => stream.request_body.as_mut(),
        (1, Some(stream)) => stream.response_body.as_mut(),
        (0 | 1, None) => None,
        _ => return Err(Status::Unimplemented.into()),
    };
    let body = body.ok_or(Status::NotFound)?;
    let (start, size) = (addr(start), addr(size));
    if start == 0 {
        body.drain(..size.min(body.len()));
        body.splice(0..0, value);
    } else if start >= body.len() {
        body.extend_from_slice(&value);
    } else {
        return Err(Status::BadArgument.into());
    }
    Ok(())
}
