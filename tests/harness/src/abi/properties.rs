//! `proxy_get_property` / `proxy_set_property`.
//!
//! A property nobody set is `NotFound`. An empty value comes back as a null pointer, so the
//! SDK reads it as `None`, as under Envoy (for example an empty `requested_server_name`).
//! A write is visible to later reads of the same context.

use super::memory::{copy_out, read};
use super::{CallResult, Ctx, count_call, status};
use crate::properties::PropertyPath;
use crate::state::WorkerState;
use crate::status::Status;
use wasmtime::Linker;

pub(super) fn register(linker: &mut Linker<WorkerState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_property",
        |mut c: Ctx, path: i32, path_len: i32, ptr_out: i32, size_out: i32| {
            count_call(&mut c, "proxy_get_property");
            status(get(&mut c, path, path_len, ptr_out, size_out))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_property",
        |mut c: Ctx, path: i32, path_len: i32, value: i32, value_len: i32| {
            count_call(&mut c, "proxy_set_property");
            status(set(&mut c, path, path_len, value, value_len))
        },
    )?;
    Ok(())
}

fn get(c: &mut Ctx, path: i32, path_len: i32, ptr_out: i32, size_out: i32) -> CallResult {
    let path = PropertyPath::from_wire(&read(c, path, path_len)?);
    let value = c.data_mut().read_property(&path).ok_or(Status::NotFound)?;
    copy_out(c, &value, ptr_out, size_out)
}

fn set(c: &mut Ctx, path: i32, path_len: i32, value: i32, value_len: i32) -> CallResult {
    let path = PropertyPath::from_wire(&read(c, path, path_len)?);
    let value = read(c, value, value_len)?;
    let state = c.data_mut();
    let effective = state.effective;
    match state.streams.get_mut(&effective) {
        Some(stream) => {
            stream
                .property_writes
                .push((path.to_dotted(), value.clone()));
            stream.properties.set(path, value);
        }
        None => state.properties.set(path, value),
    }
    Ok(())
}
