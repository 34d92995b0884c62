//! Metric host calls; the rules live in [`metrics`](crate::metrics).

use super::memory::{read_string, write_u32, write_u64};
use super::{CallResult, Ctx, count_call, status};
use crate::metrics::MetricKind;
use crate::state::WorkerState;
use crate::status::Status;
use wasmtime::Linker;

pub(super) fn register(linker: &mut Linker<WorkerState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_define_metric",
        |mut c: Ctx, kind: i32, name: i32, name_len: i32, id_out: i32| {
            count_call(&mut c, "proxy_define_metric");
            status(define(&mut c, kind, (name, name_len), id_out))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_increment_metric",
        |mut c: Ctx, id: i32, offset: i64| {
            count_call(&mut c, "proxy_increment_metric");
            Ok(c.data_mut().metrics.increment(id as u32, offset).code())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_record_metric",
        |mut c: Ctx, id: i32, value: i64| {
            count_call(&mut c, "proxy_record_metric");
            Ok(c.data_mut().metrics.record(id as u32, value as u64).code())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_metric",
        |mut c: Ctx, id: i32, out: i32| {
            count_call(&mut c, "proxy_get_metric");
            status(get(&mut c, id as u32, out))
        },
    )?;
    Ok(())
}

fn define(c: &mut Ctx, kind: i32, name: (i32, i32), id_out: i32) -> CallResult {
    let kind = MetricKind::from_abi(kind).ok_or(Status::BadArgument)?;
    let name = read_string(c, name.0, name.1)?;
    let id = c.data_mut().metrics.define(kind, &name);
    write_u32(c, id_out, id)?;
    Ok(())
}

fn get(c: &mut Ctx, id: u32, out: i32) -> CallResult {
    let value = c.data().metrics.get(id)?;
    write_u64(c, out, value)?;
    Ok(())
}
