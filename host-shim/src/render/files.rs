//! Writing render output so Envoy never reads half a file: each file is written to a temp
//! file in the same directory, fsynced, then renamed over the old one (a rename is atomic,
//! and it is the "move into the watched directory" that makes Envoy reload). Everything is
//! owner-only: the LDS file holds the feed token, key files hold private keys.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// Creates `dir` (and parents) and makes it `0700`.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    set_mode(dir, 0o700)
}

/// Holds the out directory's render lock until dropped (the OS releases it with the file,
/// also when the process dies).
pub struct OutDirLock(#[allow(dead_code)] File);

/// Takes the exclusive lock on `out` (`out/.render.lock`), waiting for another render (a
/// `render` run by hand, the shim's live render) to finish: two renders writing one
/// directory at once would each remove the other's new secret files as stale.
pub fn lock_out_dir(out: &Path) -> io::Result<OutDirLock> {
    private_dir(out)?;
    let path = out.join(".render.lock");
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(&path)?;
    file.lock()?;
    Ok(OutDirLock(file))
}

/// Replaces `path` with `contents` atomically, mode `0600`. Returns false (and writes
/// nothing) when the file already holds exactly `contents`, so an unchanged re-render does
/// not make Envoy reload.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<bool> {
    if fs::read(path).is_ok_and(|existing| existing == contents) {
        return Ok(false);
    }
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no directory"))?;
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let temp = dir.join(format!(
        ".{}.tmp-{}-{}",
        file_name.to_string_lossy(),
        std::process::id(),
        NEXT_TEMP.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = open_private(&temp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)?;
        // The rename itself must survive a crash too.
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map(|()| true)
}

#[cfg(unix)]
fn open_private(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}
