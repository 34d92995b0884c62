//! Stream control: `proxy_continue_stream`, `proxy_close_stream`,
//! `proxy_send_local_response` (and the ABI 0.1 `proxy_resume_http_*` spellings).
//!
//! Stream types (SDK `StreamType`): 0 HTTP request, 1 HTTP response, 2 downstream,
//! 3 upstream. In the root context Envoy has no stream to act on and returns `Ok`;
//! downstream/upstream on an HTTP stream is `BadArgument` here.

use super::memory::read;
use super::{CallResult, Ctx, count_call, status};
use crate::headers::HeaderMap;
use crate::outcome::LocalResponse;
use crate::state::WorkerState;
use crate::status::{Level, Status};
use wasmtime::Linker;

pub(super) fn register(linker: &mut Linker<WorkerState>) -> wasmtime::Result<()> {
    linker.func_wrap("env", "proxy_continue_stream", |mut c: Ctx, kind: i32| {
        count_call(&mut c, "proxy_continue_stream");
        status(resume(c.data_mut(), kind))
    })?;
    linker.func_wrap("env", "proxy_resume_http_request", |mut c: Ctx| {
        count_call(&mut c, "proxy_resume_http_request");
        status(resume(c.data_mut(), 0))
    })?;
    linker.func_wrap("env", "proxy_resume_http_response", |mut c: Ctx| {
        count_call(&mut c, "proxy_resume_http_response");
        status(resume(c.data_mut(), 1))
    })?;
    linker.func_wrap("env", "proxy_close_stream", |mut c: Ctx, kind: i32| {
        count_call(&mut c, "proxy_close_stream");
        status(close(c.data_mut(), kind))
    })?;
    linker.func_wrap(
        "env",
        "proxy_send_local_response",
        |mut c: Ctx,
         code: i32,
         details: i32,
         details_len: i32,
         body: i32,
         body_len: i32,
         headers: i32,
         headers_len: i32,
         grpc_status: i32| {
            count_call(&mut c, "proxy_send_local_response");
            let args = LocalArgs {
                code,
                details: (details, details_len),
                body: (body, body_len),
                headers: (headers, headers_len),
                grpc_status,
            };
            status(send_local_response(&mut c, args))
        },
    )?;
    Ok(())
}

fn resume(state: &mut WorkerState, kind: i32) -> CallResult {
    let Some(stream) = state.stream() else {
        return Ok(());
    };
    match kind {
        0 => {
            stream.request_paused = false;
            stream.resumed += 1;
        }
        1 => stream.response_paused = false,
        _ => return Err(Status::BadArgument.into()),
    }
    Ok(())
}

fn close(state: &mut WorkerState, kind: i32) -> CallResult {
    let Some(stream) = state.stream() else {
        return Ok(());
    };
    match kind {
        0 | 1 => stream.reset = true,
        _ => return Err(Status::BadArgument.into()),
    }
    Ok(())
}

struct LocalArgs {
    code: i32,
    details: (i32, i32),
    body: (i32, i32),
    headers: (i32, i32),
    grpc_status: i32,
}

fn send_local_response(c: &mut Ctx, args: LocalArgs) -> CallResult {
    let details = read(c, args.details.0, args.details.1)?;
    let body = read(c, args.body.0, args.body.1)?;
    let headers = read(c, args.headers.0, args.headers.1)?;
    let headers = HeaderMap::deserialize(&headers).map_err(|_| Status::BadArgument)?;
    let response = LocalResponse {
        status: args.code as u32,
        body,
        headers: headers.to_pairs(),
        details: String::from_utf8_lossy(&details).into_owned(),
        grpc_status: args.grpc_status,
    };
    let state = c.data_mut();
    let already_answered = match state.stream() {
        Some(stream) => stream.local_response.is_some(),
        // There is no stream to answer in the root context.
        None => return Err(Status::BadArgument.into()),
    };
    if already_answered {
        // Envoy sends only one local reply per stream; keep the first, say so.
        let note = format!(
            "harness: second proxy_send_local_response ({}) ignored",
            response.status
        );
        state.logs.push((Level::Warn, note));
    } else if let Some(stream) = state.stream() {
        stream.local_response = Some(response);
    }
    Ok(())
}
