//! Shared data and shared queue host calls; the rules live in
//! [`shared_data`](crate::shared_data) and [`shared_queue`](crate::shared_queue).

use super::memory::{copy_out, read, read_string, write_u32};
use super::{CallResult, Ctx, count_call, status};
use crate::state::WorkerState;
use crate::status::Status;
use wasmtime::Linker;

pub(super) fn register(linker: &mut Linker<WorkerState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_shared_data",
        |mut c: Ctx, key: i32, key_len: i32, ptr_out: i32, size_out: i32, cas_out: i32| {
            count_call(&mut c, "proxy_get_shared_data");
            status(get(&mut c, (key, key_len), ptr_out, size_out, cas_out))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_shared_data",
        |mut c: Ctx, key: i32, key_len: i32, value: i32, value_len: i32, cas: i32| {
            count_call(&mut c, "proxy_set_shared_data");
            status(set(&mut c, (key, key_len), (value, value_len), cas as u32))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_register_shared_queue",
        |mut c: Ctx, name: i32, name_len: i32, id_out: i32| {
            count_call(&mut c, "proxy_register_shared_queue");
            status(register_queue(&mut c, (name, name_len), id_out))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_resolve_shared_queue",
        |mut c: Ctx, vm: i32, vm_len: i32, name: i32, name_len: i32, id_out: i32| {
            count_call(&mut c, "proxy_resolve_shared_queue");
            status(resolve_queue(
                &mut c,
                (vm, vm_len),
                (name, name_len),
                id_out,
            ))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_enqueue_shared_queue",
        |mut c: Ctx, id: i32, value: i32, value_len: i32| {
            count_call(&mut c, "proxy_enqueue_shared_queue");
            status(enqueue(&mut c, id as u32, (value, value_len)))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_dequeue_shared_queue",
        |mut c: Ctx, id: i32, ptr_out: i32, size_out: i32| {
            count_call(&mut c, "proxy_dequeue_shared_queue");
            status(dequeue(&mut c, id as u32, ptr_out, size_out))
        },
    )?;
    Ok(())
}

fn get(c: &mut Ctx, key: (i32, i32), ptr_out: i32, size_out: i32, cas_out: i32) -> CallResult {
    let key = read_string(c, key.0, key.1)?;
    let (value, cas) = c
        .data()
        .host
        .shared_data
        .get(&key)
        .ok_or(Status::NotFound)?;
    copy_out(c, &value, ptr_out, size_out)?;
    write_u32(c, cas_out, cas)?;
    Ok(())
}

fn set(c: &mut Ctx, key: (i32, i32), value: (i32, i32), cas: u32) -> CallResult {
    let key = read_string(c, key.0, key.1)?;
    let value = read(c, value.0, value.1)?;
    match c.data().host.shared_data.compare_and_set(&key, &value, cas) {
        Status::Ok => Ok(()),
        other => Err(other.into()),
    }
}

fn register_queue(c: &mut Ctx, name: (i32, i32), id_out: i32) -> CallResult {
    let name = read_string(c, name.0, name.1)?;
    let state = c.data();
    let vm_id = state.host.settings().vm_id.clone();
    let token = state
        .host
        .queues
        .register(&vm_id, &name, state.worker_id, state.effective);
    write_u32(c, id_out, token)?;
    Ok(())
}

fn resolve_queue(c: &mut Ctx, vm: (i32, i32), name: (i32, i32), id_out: i32) -> CallResult {
    let vm_id = read_string(c, vm.0, vm.1)?;
    let name = read_string(c, name.0, name.1)?;
    let token = c
        .data()
        .host
        .queues
        .resolve(&vm_id, &name)
        .ok_or(Status::NotFound)?;
    write_u32(c, id_out, token)?;
    Ok(())
}

fn enqueue(c: &mut Ctx, id: u32, value: (i32, i32)) -> CallResult {
    let value = read(c, value.0, value.1)?;
    match c.data().host.queues.enqueue(id, &value) {
        Status::Ok => Ok(()),
        other => Err(other.into()),
    }
}

fn dequeue(c: &mut Ctx, id: u32, ptr_out: i32, size_out: i32) -> CallResult {
    let value = c.data().host.queues.dequeue(id)?;
    copy_out(c, &value, ptr_out, size_out)
}
