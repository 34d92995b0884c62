//! The proxy-wasm ABI 0.2.1 host calls (module `env`), registered on a wasmtime `Linker`.
//!
//! Each submodule implements one family with Envoy's status codes. A host call returns a
//! [`Status`] to the plugin; it traps only when the plugin's own allocator traps, or when
//! the plugin calls something the harness does not implement (see [`stub_unknown_imports`]).

mod buffers;
mod callouts;
mod foreign;
mod header_maps;
pub(crate) mod memory;
mod metrics;
mod properties;
mod shared;
mod stream;
mod vm;

use super::state::WorkerState;
use super::status::Status;
use wasmtime::{Caller, ExternType, InstancePre, Linker, Module, UnknownImportError};

pub(crate) type Ctx<'a> = Caller<'a, WorkerState>;

/// Why a host call did not return `Ok`: a status for the plugin, or a trap.
pub(crate) enum CallError {
    Status(Status),
    Trap(wasmtime::Error),
}

impl From<Status> for CallError {
    fn from(status: Status) -> Self {
        CallError::Status(status)
    }
}

impl From<wasmtime::Error> for CallError {
    fn from(error: wasmtime::Error) -> Self {
        CallError::Trap(error)
    }
}

pub(crate) type CallResult = Result<(), CallError>;

/// Counts one host call against the effective stream (calls in the root context are not
/// a request's cost, so they are not counted), for the per-request host-call budget.
pub(crate) fn count_call(c: &mut Ctx, name: &'static str) {
    let fuel_left = c.get_fuel().unwrap_or(0);
    let state = c.data_mut();
    let effective = state.effective;
    let in_callback = state.fuel_at_callback_start.saturating_sub(fuel_left);
    if let Some(stream) = state.streams.get_mut(&effective) {
        *stream.host_calls.entry(name).or_default() += 1;
        let burnt = stream.wasm_fuel + in_callback;
        stream.fuel_at_calls.push((name, burnt));
    }
}

/// Turns a host call result into the `i32` status the plugin sees, or a trap.
pub(crate) fn status(result: CallResult) -> wasmtime::Result<i32> {
    match result {
        Ok(()) => Ok(Status::Ok.code()),
        Err(CallError::Status(status)) => Ok(status.code()),
        Err(CallError::Trap(error)) => Err(error),
    }
}

/// Registers every implemented `env` host call and Envoy's part of WASI preview 1.
pub(crate) fn register(linker: &mut Linker<WorkerState>) -> wasmtime::Result<()> {
    crate::wasi::add_to_linker(linker)?;
    vm::register(linker)?;
    buffers::register(linker)?;
    header_maps::register(linker)?;
    properties::register(linker)?;
    stream::register(linker)?;
    callouts::register(linker)?;
    shared::register(linker)?;
    metrics::register(linker)?;
    foreign::register(linker)?;
    Ok(())
}

/// Pre-links `module`, defining every function import the harness lacks as a trap that
/// names it, so a plugin using an unimplemented host call fails its test loudly instead
/// of failing to load (or, worse, passing).
pub(crate) fn stub_unknown_imports(
    linker: &mut Linker<WorkerState>,
    module: &Module,
) -> wasmtime::Result<(InstancePre<WorkerState>, Vec<String>)> {
    let mut stubbed = Vec::new();
    // Each round defines one missing import; a module has finitely many.
    for _ in 0..=module.imports().len() {
        let error = match linker.instantiate_pre(module) {
            Ok(pre) => return Ok((pre, stubbed)),
            Err(error) => error,
        };
        let Some(unknown) = error.downcast_ref::<UnknownImportError>() else {
            return Err(error);
        };
        let (module_name, name) = (unknown.module().to_string(), unknown.name().to_string());
        let ExternType::Func(ty) = unknown.ty() else {
            wasmtime::bail!(
                "harness: the plugin imports {module_name}::{name}, which is not a function \
                 and which the harness does not provide"
            );
        };
        let message = format!("harness: unimplemented host call {name} (module {module_name})");
        stubbed.push(format!("{module_name}::{name}"));
        linker.func_new(&module_name, &name, ty, move |_, _, _| {
            Err(wasmtime::format_err!("{message}"))
        })?;
    }
    wasmtime::bail!("harness: could not resolve the plugin's imports")
}
