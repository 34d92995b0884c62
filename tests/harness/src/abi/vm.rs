//! VM-wide host calls: logging, time, the tick timer, `proxy_done`, the effective context.

use super::memory::{read, write_u32, write_u64};
use super::{CallResult, Ctx, count_call, status};
use crate::state::WorkerState;
use crate::status::{Level, Status};
use wasmtime::Linker;

pub(super) fn register(linker: &mut Linker<WorkerState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_log",
        |mut c: Ctx, level: i32, ptr: i32, len: i32| {
            count_call(&mut c, "proxy_log");
            status(log(&mut c, level, ptr, len))
        },
    )?;
    linker.func_wrap("env", "proxy_get_log_level", |mut c: Ctx, out: i32| {
        count_call(&mut c, "proxy_get_log_level");
        let level = c.data().host.settings().log_level as u32;
        status(write_u32(&mut c, out, level).map_err(Into::into))
    })?;
    linker.func_wrap(
        "env",
        "proxy_get_current_time_nanoseconds",
        |mut c: Ctx, out: i32| {
            count_call(&mut c, "proxy_get_current_time_nanoseconds");
            let now = c.data().host.clock.unix_nanos();
            status(write_u64(&mut c, out, now).map_err(Into::into))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_tick_period_milliseconds",
        |mut c: Ctx, period: i32| {
            count_call(&mut c, "proxy_set_tick_period_milliseconds");
            // The timer belongs to the root context, whichever context sets it; 0 stops it.
            c.data_mut().tick_period_ms = period as u32;
            Ok(Status::Ok.code())
        },
    )?;
    linker.func_wrap("env", "proxy_done", |mut c: Ctx| {
        count_call(&mut c, "proxy_done");
        c.data_mut().done_called = true;
        Ok(Status::Ok.code())
    })?;
    linker.func_wrap(
        "env",
        "proxy_set_effective_context",
        |mut c: Ctx, id: i32| {
            count_call(&mut c, "proxy_set_effective_context");
            let id = id as u32;
            if !c.data().is_live_context(id) {
                return Ok(Status::BadArgument.code());
            }
            c.data_mut().effective = id;
            Ok(Status::Ok.code())
        },
    )?;
    Ok(())
}

fn log(c: &mut Ctx, level: i32, ptr: i32, len: i32) -> CallResult {
    let level = Level::from_abi(level).ok_or(Status::BadArgument)?;
    let message = read(c, ptr, len)?;
    let state = c.data_mut();
    if level >= state.host.settings().log_level {
        state
            .logs
            .push((level, String::from_utf8_lossy(&message).into_owned()));
    }
    Ok(())
}
