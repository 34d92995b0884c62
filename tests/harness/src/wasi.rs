//! WASI preview 1 as a proxy-wasm host gives it: the few calls that Rust's std makes at
//! start and on output, and nothing else (no files, no sockets, no preopens).
//!
//! Envoy's host (proxy-wasm-cpp-host, `exports.cc`) implements the same small set, so a
//! plugin that needs more fails here as it would in Envoy: an import outside this set is
//! a trap that names it ([`crate::abi`]'s stubs). Written here rather than taken from
//! wasmtime-wasi, whose full WASI (components, async, files) was a large part of a cold
//! `make test`'s build and more than any plugin gets.

use crate::clock::Clock;
use wasmtime::{Caller, Extern, Linker, Memory};

const MODULE: &str = "wasi_snapshot_preview1";

/// WASI errno values (`wasi_snapshot_preview1` `errno`).
mod errno {
    pub const SUCCESS: i32 = 0;
    pub const BADF: i32 = 8;
    pub const FAULT: i32 = 21;
    pub const INVAL: i32 = 28;
    pub const SPIPE: i32 = 70;
}

/// A guest's stdout or stderr, kept for the host to read (Envoy logs each line), up to a
/// capacity; what is beyond it is dropped.
#[derive(Debug)]
pub struct Output {
    bytes: Vec<u8>,
    capacity: usize,
}

impl Output {
    pub fn new(capacity: usize) -> Self {
        Output {
            bytes: Vec::new(),
            capacity,
        }
    }

    /// What was written since the last call.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }

    fn write(&mut self, data: &[u8]) {
        let room = self.capacity.saturating_sub(self.bytes.len());
        self.bytes
            .extend_from_slice(data.get(..room.min(data.len())).unwrap_or_default());
    }
}

/// One guest's WASI context. No arguments, as under Envoy.
#[derive(Debug)]
pub struct WasiCtx {
    /// Envoy's `vm_config.environment_variables`.
    pub env: Vec<(String, String)>,
    pub stdout: Output,
    pub stderr: Output,
    /// `clock_time_get` reads the harness's manual clock, as `proxy_get_current_time_*` do.
    pub clock: Clock,
}

/// `proc_exit` ends the guest with this code, as a trap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcExit(pub i32);

impl std::fmt::Display for ProcExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the guest called proc_exit({})", self.0)
    }
}

impl std::error::Error for ProcExit {}

/// Store data that carries a [`WasiCtx`].
pub(crate) trait WasiView: 'static {
    fn wasi(&mut self) -> &mut WasiCtx;
}

fn memory<T>(caller: &mut Caller<'_, T>) -> Option<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Some(memory),
        _ => None,
    }
}

fn addr(raw: i32) -> usize {
    raw as u32 as usize
}

/// Writes `data` at `ptr`; `false` when it does not fit the guest's memory.
fn put<T>(caller: &mut Caller<'_, T>, ptr: i32, data: &[u8]) -> bool {
    memory(caller).is_some_and(|m| m.write(&mut *caller, addr(ptr), data).is_ok())
}

/// A call's result written at `ptr`: its errno.
fn reply<T>(caller: &mut Caller<'_, T>, ptr: i32, data: &[u8]) -> i32 {
    if put(caller, ptr, data) {
        errno::SUCCESS
    } else {
        errno::FAULT
    }
}

fn get<T>(caller: &mut Caller<'_, T>, ptr: i32, len: usize) -> Option<Vec<u8>> {
    let memory = memory(caller)?;
    let mut out = vec![0; len];
    memory.read(&*caller, addr(ptr), &mut out).ok()?;
    Some(out)
}

/// `args_*` and `environ_*` share one layout: a table of pointers to NUL-terminated strings.
fn strings_sizes<T>(caller: &mut Caller<'_, T>, strings: &[String], count: i32, size: i32) -> i32 {
    let bytes: usize = strings.iter().map(|s| s.len() + 1).sum();
    let fits = put(caller, count, &(strings.len() as u32).to_le_bytes())
        && put(caller, size, &(bytes as u32).to_le_bytes());
    if fits { errno::SUCCESS } else { errno::FAULT }
}

fn strings_get<T>(caller: &mut Caller<'_, T>, strings: &[String], table: i32, buf: i32) -> i32 {
    let mut at = buf as u32;
    for (i, s) in strings.iter().enumerate() {
        let mut text = s.as_bytes().to_vec();
        text.push(0);
        let slot = (table as u32).wrapping_add(4 * i as u32) as i32;
        if !put(caller, slot, &at.to_le_bytes()) || !put(caller, at as i32, &text) {
            return errno::FAULT;
        }
        at = at.wrapping_add(text.len() as u32);
    }
    errno::SUCCESS
}

fn environment<T: WasiView>(caller: &mut Caller<'_, T>) -> Vec<String> {
    let env = &caller.data_mut().wasi().env;
    env.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// `fd_write` to stdout (1) or stderr (2): the iovecs' bytes, in order.
fn fd_write<T: WasiView>(caller: &mut Caller<'_, T>, fd: i32, iovs: i32, n: i32, out: i32) -> i32 {
    if fd != 1 && fd != 2 {
        return errno::BADF;
    }
    let Some(table) = get(caller, iovs, addr(n).saturating_mul(8)) else {
        return errno::FAULT;
    };
    let mut data = Vec::new();
    for iov in table.chunks_exact(8) {
        let word = |at: usize| {
            iov.get(at..at + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map_or(0, u32::from_le_bytes)
        };
        let (ptr, len) = (word(0), word(4));
        let Some(bytes) = get(caller, ptr as i32, len as usize) else {
            return errno::FAULT;
        };
        data.extend_from_slice(&bytes);
    }
    let wasi = caller.data_mut().wasi();
    if fd == 1 {
        wasi.stdout.write(&data);
    } else {
        wasi.stderr.write(&data);
    }
    reply(caller, out, &(data.len() as u32).to_le_bytes())
}

/// Nanoseconds: realtime (0) since the Unix epoch, the others since the host started.
fn now_nanos(clock: &Clock, id: i32) -> Option<u64> {
    match id {
        0 => Some(clock.unix_nanos()),
        1..=3 => Some(clock.monotonic_nanos()),
        _ => None,
    }
}

/// Registers the calls; an import of `wasi_snapshot_preview1` outside them stays unresolved.
pub(crate) fn add_to_linker<T: WasiView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "fd_write",
        |mut c: Caller<'_, T>, fd: i32, iovs: i32, n: i32, out: i32| {
            fd_write(&mut c, fd, iovs, n, out)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "args_sizes_get",
        |mut c: Caller<'_, T>, count: i32, size: i32| strings_sizes(&mut c, &[], count, size),
    )?;
    linker.func_wrap(MODULE, "args_get", |_: Caller<'_, T>, _: i32, _: i32| {
        errno::SUCCESS
    })?;
    linker.func_wrap(
        MODULE,
        "environ_sizes_get",
        |mut c: Caller<'_, T>, count: i32, size: i32| {
            let env = environment(&mut c);
            strings_sizes(&mut c, &env, count, size)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "environ_get",
        |mut c: Caller<'_, T>, table: i32, buf: i32| {
            let env = environment(&mut c);
            strings_get(&mut c, &env, table, buf)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "clock_time_get",
        |mut c: Caller<'_, T>, id: i32, _precision: i64, out: i32| {
            let Some(now) = now_nanos(&c.data_mut().wasi().clock, id) else {
                return errno::INVAL;
            };
            reply(&mut c, out, &now.to_le_bytes())
        },
    )?;
    linker.func_wrap(
        MODULE,
        "random_get",
        |mut c: Caller<'_, T>, buf: i32, len: i32| {
            let mut bytes = vec![0; addr(len)];
            if getrandom::getrandom(&mut bytes).is_err() {
                return errno::INVAL;
            }
            reply(&mut c, buf, &bytes)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "proc_exit",
        |_: Caller<'_, T>, code: i32| -> wasmtime::Result<()> {
            Err(wasmtime::Error::new(ProcExit(code)))
        },
    )?;
    linker.func_wrap(MODULE, "sched_yield", |_: Caller<'_, T>| errno::SUCCESS)?;
    // stdin, stdout and stderr only, none of them a terminal (no colour codes in output);
    // no preopened directories, so std's start-up scan ends at once.
    linker.func_wrap(
        MODULE,
        "fd_fdstat_get",
        |mut c: Caller<'_, T>, fd: i32, out: i32| {
            if !(0..=2).contains(&fd) {
                return errno::BADF;
            }
            // filetype unknown (0), no flags, no rights: 24 bytes.
            reply(&mut c, out, &[0; 24])
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_prestat_get",
        |_: Caller<'_, T>, _: i32, _: i32| errno::BADF,
    )?;
    linker.func_wrap(
        MODULE,
        "fd_prestat_dir_name",
        |_: Caller<'_, T>, _: i32, _: i32, _: i32| errno::BADF,
    )?;
    linker.func_wrap(MODULE, "fd_close", |_: Caller<'_, T>, fd: i32| {
        if (0..=2).contains(&fd) {
            errno::SUCCESS
        } else {
            errno::BADF
        }
    })?;
    linker.func_wrap(
        MODULE,
        "fd_seek",
        |_: Caller<'_, T>, fd: i32, _: i64, _: i32, _: i32| {
            if (0..=2).contains(&fd) {
                errno::SPIPE
            } else {
                errno::BADF
            }
        },
    )?;
    // stdin is empty.
    linker.func_wrap(
        MODULE,
        "fd_read",
        |mut c: Caller<'_, T>, fd: i32, _: i32, _: i32, out: i32| {
            if fd != 0 {
                return errno::BADF;
            }
            reply(&mut c, out, &0u32.to_le_bytes())
        },
    )?;
    Ok(())
}
