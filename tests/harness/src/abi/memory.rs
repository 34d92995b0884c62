//! Guest memory access for host calls, the way proxy-wasm-cpp-host does it.
//!
//! Data going to the plugin is placed in memory the plugin allocates with its exported
//! `proxy_on_memory_allocate` (or `malloc`), and the pointer and size are written to the
//! return slots. Empty data is returned as a null pointer and size 0, so the Rust SDK turns
//! an empty property, shared-data value or buffer into `None` (as it does under Envoy).

use super::super::state::WorkerState;
use super::super::status::Status;
use super::CallError;
use wasmtime::{Caller, Extern, Memory};

fn memory(caller: &mut Caller<'_, WorkerState>) -> Result<Memory, Status> {
    if let Some(memory) = caller.data().exports.memory {
        return Ok(memory);
    }
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => Err(Status::InvalidMemoryAccess),
    }
}

/// Plugin pointers and sizes are wasm32 `usize`, passed as `i32`.
pub(crate) fn addr(raw: i32) -> usize {
    raw as u32 as usize
}

pub(crate) fn read(
    caller: &mut Caller<'_, WorkerState>,
    ptr: i32,
    len: i32,
) -> Result<Vec<u8>, Status> {
    let len = addr(len);
    if len == 0 {
        return Ok(Vec::new());
    }
    let memory = memory(caller)?;
    let mut out = vec![0; len];
    memory
        .read(&*caller, addr(ptr), &mut out)
        .map_err(|_| Status::InvalidMemoryAccess)?;
    Ok(out)
}

pub(crate) fn read_string(
    caller: &mut Caller<'_, WorkerState>,
    ptr: i32,
    len: i32,
) -> Result<String, Status> {
    let bytes = read(caller, ptr, len)?;
    String::from_utf8(bytes).map_err(|_| Status::BadArgument)
}

fn write(caller: &mut Caller<'_, WorkerState>, ptr: i32, data: &[u8]) -> Result<(), Status> {
    let memory = memory(caller)?;
    memory
        .write(&mut *caller, addr(ptr), data)
        .map_err(|_| Status::InvalidMemoryAccess)
}

pub(crate) fn write_u32(
    caller: &mut Caller<'_, WorkerState>,
    ptr: i32,
    value: u32,
) -> Result<(), Status> {
    write(caller, ptr, &value.to_le_bytes())
}

pub(crate) fn write_u64(
    caller: &mut Caller<'_, WorkerState>,
    ptr: i32,
    value: u64,
) -> Result<(), Status> {
    write(caller, ptr, &value.to_le_bytes())
}

/// Copies `data` into plugin-allocated memory and writes its pointer and size to the
/// return slots. An allocator trap propagates as a trap.
pub(crate) fn copy_out(
    caller: &mut Caller<'_, WorkerState>,
    data: &[u8],
    ptr_slot: i32,
    size_slot: i32,
) -> Result<(), CallError> {
    let mut pointer: u32 = 0;
    if !data.is_empty() {
        let size = i32::try_from(data.len()).map_err(|_| Status::InvalidMemoryAccess)?;
        let allocate = match caller.data().exports.allocate.clone() {
            Some(allocate) => allocate,
            None => ["proxy_on_memory_allocate", "malloc"]
                .iter()
                .find_map(|name| caller.get_export(name).and_then(Extern::into_func))
                .ok_or_else(|| {
                    wasmtime::format_err!(
                        "harness: the plugin exports neither proxy_on_memory_allocate nor malloc"
                    )
                })?
                .typed::<i32, i32>(&*caller)?,
        };
        let raw = allocate.call(&mut *caller, size)?;
        if raw == 0 {
            return Err(Status::InvalidMemoryAccess.into());
        }
        write(caller, raw, data)?;
        pointer = raw as u32;
    }
    write_u32(caller, ptr_slot, pointer)?;
    write_u32(caller, size_slot, data.len() as u32)?;
    Ok(())
}
