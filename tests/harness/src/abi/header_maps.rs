//! Header map host calls with Envoy's rules.
//!
//! Map types (SDK `MapType`): 0 request headers, 1 request trailers (once
//! `Worker::request_trailers` sent them), 2 response headers,
//! 3 response trailers, 4/5 gRPC metadata, 6 HTTP call response headers, 7 HTTP call
//! response trailers.
//! - A map that does not exist yet in this context (response headers during the request,
//!   any stream map in the root context) is `BadArgument`, which the SDK turns into a
//!   panic, as under Envoy; during `proxy_on_log` it is `NotFound`.
//! - HTTP call response maps exist only during a successful call's
//!   `proxy_on_http_call_response` and are read-only; a failed call has none (so reading
//!   its headers panics the SDK, as under Envoy), and trailers exist only if sent.
//! - Names are lower-cased; a missing header is `NotFound`; several values of one name
//!   answer with the first.
//! - Every change to the request headers clears the route cache (ABI 0.2.1 in Envoy).

use super::memory::{copy_out, read, read_string};
use super::{CallResult, Ctx, count_call, status};
use crate::headers::HeaderMap;
use crate::state::WorkerState;
use crate::status::Status;
use wasmtime::Linker;

pub(super) fn register(linker: &mut Linker<WorkerState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_header_map_pairs",
        |mut c: Ctx, kind: i32, ptr_out: i32, size_out: i32| {
            count_call(&mut c, "proxy_get_header_map_pairs");
            status(get_pairs(&mut c, kind, ptr_out, size_out))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_header_map_pairs",
        |mut c: Ctx, kind: i32, ptr: i32, len: i32| {
            count_call(&mut c, "proxy_set_header_map_pairs");
            status(set_pairs(&mut c, kind, ptr, len))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_value",
        |mut c: Ctx, kind: i32, key: i32, key_len: i32, ptr_out: i32, size_out: i32| {
            count_call(&mut c, "proxy_get_header_map_value");
            status(get_value(&mut c, kind, key, key_len, ptr_out, size_out))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_remove_header_map_value",
        |mut c: Ctx, kind: i32, key: i32, key_len: i32| {
            count_call(&mut c, "proxy_remove_header_map_value");
            status(edit(&mut c, kind, key, key_len, None, Edit::Remove))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_replace_header_map_value",
        |mut c: Ctx, kind: i32, key: i32, key_len: i32, value: i32, value_len: i32| {
            count_call(&mut c, "proxy_replace_header_map_value");
            status(edit(
                &mut c,
                kind,
                key,
                key_len,
                Some((value, value_len)),
                Edit::Replace,
            ))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_add_header_map_value",
        |mut c: Ctx, kind: i32, key: i32, key_len: i32, value: i32, value_len: i32| {
            count_call(&mut c, "proxy_add_header_map_value");
            status(edit(
                &mut c,
                kind,
                key,
                key_len,
                Some((value, value_len)),
                Edit::Add,
            ))
        },
    )?;
    Ok(())
}

fn missing_map(state: &WorkerState) -> Status {
    if state.in_log_phase {
        Status::NotFound
    } else {
        Status::BadArgument
    }
}

/// A copy of the map for reading.
fn read_map(state: &WorkerState, kind: i32) -> Result<HeaderMap, Status> {
    let stream = state.streams.get(&state.effective);
    let map = match kind {
        0 => stream.map(|s| s.request_headers.clone()),
        1 => stream.and_then(|s| s.request_trailers.clone()),
        2 => stream.and_then(|s| s.response_headers.clone()),
        3 => stream.and_then(|s| s.response_trailers.clone()),
        6 => state.call_response.as_ref().map(|r| r.headers.clone()),
        7 => state
            .call_response
            .as_ref()
            .and_then(|r| r.trailers.clone()),
        4 | 5 => None,
        _ => return Err(Status::BadArgument),
    };
    map.ok_or_else(|| missing_map(state))
}

/// Applies `change` to a writable map of the effective stream.
fn write_map(
    state: &mut WorkerState,
    kind: i32,
    change: impl FnOnce(&mut HeaderMap),
) -> Result<(), Status> {
    let missing = missing_map(state);
    let effective = state.effective;
    let stream = state.streams.get_mut(&effective).ok_or(missing)?;
    let map = match kind {
        0 => Some(&mut stream.request_headers),
        1 => stream.request_trailers.as_mut(),
        2 => stream.response_headers.as_mut(),
        3 => stream.response_trailers.as_mut(),
        _ => return Err(Status::BadArgument),
    };
    change(map.ok_or(missing)?);
    if kind == 0 {
        stream.route_cache_clears += 1;
    }
    Ok(())
}

fn get_pairs(c: &mut Ctx, kind: i32, ptr_out: i32, size_out: i32) -> CallResult {
    let map = read_map(c.data(), kind)?;
    // Envoy returns an empty map as a null pointer and size 0.
    let bytes = if map.is_empty() {
        Vec::new()
    } else {
        map.serialize()
    };
    copy_out(c, &bytes, ptr_out, size_out)
}

fn set_pairs(c: &mut Ctx, kind: i32, ptr: i32, len: i32) -> CallResult {
    let bytes = read(c, ptr, len)?;
    let pairs = HeaderMap::deserialize(&bytes).map_err(|_| Status::BadArgument)?;
    write_map(c.data_mut(), kind, |map| {
        let mut fresh = HeaderMap::new();
        for (k, v) in pairs.iter() {
            fresh.add(k, v);
        }
        *map = fresh;
    })?;
    Ok(())
}

fn get_value(
    c: &mut Ctx,
    kind: i32,
    key: i32,
    key_len: i32,
    ptr_out: i32,
    size_out: i32,
) -> CallResult {
    let key = read_string(c, key, key_len)?;
    let map = read_map(c.data(), kind)?;
    let value = map.get(&key).ok_or(Status::NotFound)?.to_vec();
    copy_out(c, &value, ptr_out, size_out)
}

enum Edit {
    Add,
    Replace,
    Remove,
}

fn edit(
    c: &mut Ctx,
    kind: i32,
    key: i32,
    key_len: i32,
    value: Option<(i32, i32)>,
    edit: Edit,
) -> CallResult {
    let key = read_string(c, key, key_len)?;
    let value = match value {
        Some((ptr, len)) => read(c, ptr, len)?,
        None => Vec::new(),
    };
    write_map(c.data_mut(), kind, |map| match edit {
        Edit::Add => map.add(&key, &value),
        Edit::Replace => map.replace(&key, &value),
        Edit::Remove => map.remove(&key),
    })?;
    Ok(())
}
