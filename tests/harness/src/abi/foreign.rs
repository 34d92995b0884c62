//! `proxy_call_foreign_function`: recorded, answered with the status the test configured.
//!
//! Envoy registers `clear_route_cache` (newer versions only, hence the filter ignores
//! `NotFound`); the harness answers it `Ok` by default and counts a route-cache clear.
//! Any other name is `NotFound` unless a test configured a status for it. Results are
//! always empty.

use super::memory::read;
use super::{CallResult, Ctx, count_call, status};
use crate::state::WorkerState;
use crate::status::Status;
use wasmtime::Linker;

pub(super) fn register(linker: &mut Linker<WorkerState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_call_foreign_function",
        |mut c: Ctx,
         name: i32,
         name_len: i32,
         args: i32,
         args_len: i32,
         _results_out: i32,
         _results_size_out: i32| {
            count_call(&mut c, "proxy_call_foreign_function");
            status(call(&mut c, (name, name_len), (args, args_len)))
        },
    )?;
    Ok(())
}

fn call(c: &mut Ctx, name: (i32, i32), args: (i32, i32)) -> CallResult {
    let name = String::from_utf8_lossy(&read(c, name.0, name.1)?).into_owned();
    let args = read(c, args.0, args.1)?;
    let state = c.data_mut();
    let answer = state
        .foreign_status
        .get(&name)
        .copied()
        .unwrap_or(Status::NotFound);
    let clears_route = name == "clear_route_cache" && answer == Status::Ok;
    let effective = state.effective;
    match state.streams.get_mut(&effective) {
        Some(stream) => {
            stream.foreign_calls.push((name, args));
            if clears_route {
                stream.route_cache_clears += 1;
            }
        }
        None => state.root_foreign_calls.push((name, args)),
    }
    match answer {
        Status::Ok => Ok(()),
        other => Err(other.into()),
    }
}
