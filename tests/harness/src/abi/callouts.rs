//! `proxy_http_call` and `proxy_get_status`.
//!
//! Like Envoy's `Context::httpCall`: a negative timeout, an unknown cluster (when the test
//! named the known ones) or headers lacking `:method`, `:path` or `:authority` are
//! `BadArgument`. A call is recorded with a fresh token (from 1, per worker) and waits
//! until the test answers it with `Worker::respond_http_call` or `Worker::fail_http_call`.

use super::memory::{copy_out, read, read_string, write_u32};
use super::{CallResult, Ctx, count_call, status};
use crate::headers::HeaderMap;
use crate::outcome::HttpCall;
use crate::state::WorkerState;
use crate::status::Status;
use wasmtime::Linker;

pub(super) fn register(linker: &mut Linker<WorkerState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_http_call",
        |mut c: Ctx,
         upstream: i32,
         upstream_len: i32,
         headers: i32,
         headers_len: i32,
         body: i32,
         body_len: i32,
         trailers: i32,
         trailers_len: i32,
         timeout: i32,
         token_out: i32| {
            count_call(&mut c, "proxy_http_call");
            let args = CallArgs {
                upstream: (upstream, upstream_len),
                headers: (headers, headers_len),
                body: (body, body_len),
                trailers: (trailers, trailers_len),
                timeout,
                token_out,
            };
            status(http_call(&mut c, args))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_status",
        |mut c: Ctx, code_out: i32, ptr_out: i32, size_out: i32| {
            count_call(&mut c, "proxy_get_status");
            status(get_status(&mut c, code_out, ptr_out, size_out))
        },
    )?;
    Ok(())
}

struct CallArgs {
    upstream: (i32, i32),
    headers: (i32, i32),
    body: (i32, i32),
    trailers: (i32, i32),
    timeout: i32,
    token_out: i32,
}

fn http_call(c: &mut Ctx, args: CallArgs) -> CallResult {
    let upstream = read_string(c, args.upstream.0, args.upstream.1)?;
    let headers = read(c, args.headers.0, args.headers.1)?;
    let headers = HeaderMap::deserialize(&headers).map_err(|_| Status::BadArgument)?;
    let body = read(c, args.body.0, args.body.1)?;
    let trailers = read(c, args.trailers.0, args.trailers.1)?;
    let trailers = HeaderMap::deserialize(&trailers).map_err(|_| Status::BadArgument)?;
    if args.timeout < 0 {
        return Err(Status::BadArgument.into());
    }
    let state = c.data_mut();
    let known_cluster = match &state.host.settings().clusters {
        Some(clusters) => clusters.contains(&upstream),
        None => true,
    };
    let has_required = [":method", ":path", ":authority"]
        .iter()
        .all(|name| headers.get(name).is_some());
    if !known_cluster || !has_required {
        return Err(Status::BadArgument.into());
    }
    let token = state.next_token;
    state.next_token = state.next_token.wrapping_add(1).max(1);
    let call = HttpCall {
        token,
        context_id: state.effective,
        upstream,
        headers: headers.to_pairs(),
        body,
        trailers: trailers.to_pairs(),
        timeout_ms: args.timeout as u32,
    };
    if let Some(stream) = state.stream() {
        stream.http_calls.push(call.clone());
    }
    state.http_calls.insert(token, call);
    write_u32(c, args.token_out, token)?;
    Ok(())
}

fn get_status(c: &mut Ctx, code_out: i32, ptr_out: i32, size_out: i32) -> CallResult {
    let (code, message) = c.data().call_status.clone();
    write_u32(c, code_out, code)?;
    copy_out(c, message.as_bytes(), ptr_out, size_out)
}
