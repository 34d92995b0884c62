//! `serve` keeps Envoy's TLS config in step with the store (SPEC §8 "Live").
//!
//! `render` records what it rendered in the store (`render::record`): the gate and its
//! options. Whenever the store changes (at once after this shim's own admin writes; within
//! [`POLL`] for writes through other shims of a Redis fleet) and a render record names an
//! out directory that exists on this machine, this task renders again with the recorded
//! options. Render writes only files whose content changed, each by an atomic rename into
//! the directories Envoy watches, so a running Envoy (and one started later from the same
//! directory) follows without a restart, and a re-render that changes nothing (a shim
//! restart) touches no file.
//!
//! Order, so that no request fails because of a change: the filter routes by the store index
//! it syncs from the feed, and Envoy must have a cluster before the filter routes to it, and
//! keep it until the filter has moved off it. So while there is a render to follow, the feed
//! serves the filters the store only up to the version this task has dealt with
//! (`AppState::feed_cap`, `Store::changes_until`; with none, the feed is not held back).
//! A render record shows up at most [`POLL`] after the first `render` run, before any Envoy
//! can run from that output:
//! - a change that needs new clusters (a certificate uploaded), or only changes the listener
//!   or secrets: render, give Envoy [`SETTLE`] to load the files, then release it;
//! - a change that only retires clusters (a certificate deleted): release it first, wait for
//!   the filters' next sync (`store.sync_interval_ms` + [`FILTER_MARGIN`]), then render;
//! - a change that does both (an API's own upstream certificate deleted, so the global map's
//!   applies): render the new clusters *and* keep the retired ones
//!   (`render::render_dir_retaining`), settle, release, wait for the filters' next sync, then
//!   render without the retired ones.
//!
//! A failed render leaves the previous files in place, is logged, releases the change (the
//! filters are never held back by a broken render), and is tried again on the next change.
//! Bursts of admin calls are debounced into one render.

use crate::api::AppState;
use crate::render::record::{self, GateRecord, RenderRecord};
use crate::render::{self, RenderError, RenderOptions, files, plan};
use crate::store::{Store, StoreError};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How often the store version is read for writes made through other shims.
pub const POLL: Duration = Duration::from_millis(200);
/// A burst of admin writes ends after this long without another.
const QUIET: Duration = Duration::from_millis(25);
/// ... or after this long in all.
const MAX_DEBOUNCE: Duration = Duration::from_millis(150);
/// Envoy loads renamed LDS/CDS/SDS files within milliseconds; this is the time it is given
/// before the filters learn of a change that needs them.
pub const SETTLE: Duration = Duration::from_millis(150);
/// Beyond one `store.sync_interval_ms`, before a cluster the filters routed to is retired.
const FILTER_MARGIN: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("--gate {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--gate {path}: {source}")]
    Invalid { path: PathBuf, source: RenderError },
    #[error("--gate: store: {0}")]
    Store(#[from] StoreError),
}

/// `serve --gate FILE`: records the gate for every shim of the store (SPEC §8). Refuses a
/// gate `render` would refuse.
/// `feed_token` fills an empty `store.token` as `render` does (the shim's own token).
pub fn set_gate(store: &Store, path: &Path, feed_token: Option<&str>) -> Result<(), GateError> {
    let read = |source| GateError::Read {
        path: path.to_path_buf(),
        source,
    };
    let json = std::fs::read(path).map_err(read)?;
    let path = std::fs::canonicalize(path).map_err(read)?;
    render::prepare_gate(&json, "127.0.0.1:1", feed_token).map_err(|source| {
        GateError::Invalid {
            path: path.clone(),
            source,
        }
    })?;
    let gate = GateRecord {
        gate: String::from_utf8_lossy(&json).into_owned(),
        base_dir: record::working_dir(),
        source: format!("serve --gate {}", path.display()),
    };
    record::save_gate(store, &gate)?;
    tracing::info!(gate = %path.display(), "gate recorded in the store");
    Ok(())
}

/// Sets the gate (`serve --gate`), then starts following the store (and that file) in the
/// background.
pub fn spawn(state: &Arc<AppState>, gate: Option<&Path>) -> Result<(), GateError> {
    let gate_file = match gate {
        Some(path) => {
            set_gate(&state.store, path, feed_token(state).as_deref())?;
            Some(GateFile {
                path: path.to_path_buf(),
                seen: std::fs::read(path).ok(),
                feed_token: feed_token(state),
            })
        }
        None => None,
    };
    // With a render to follow, the filters see a change only once this task has dealt with
    // it, from the start.
    if let Ok(Some(_)) = target(&state.store)
        && let Ok(version) = state.store.version()
    {
        state.feed_cap.send_replace(version);
    }
    tokio::spawn(Live::new(Arc::clone(state), gate_file).run());
    Ok(())
}

/// `serve --gate FILE`, followed: an edit to the file is recorded (and so rendered) like the
/// gate of a new `render`, once it is a gate `render` accepts.
struct GateFile {
    path: PathBuf,
    /// The contents last acted on (recorded, or refused and logged once).
    seen: Option<Vec<u8>>,
    feed_token: Option<String>,
}

impl GateFile {
    /// Records the file's gate when its contents changed since the last look.
    async fn follow(&mut self, store: &Arc<Store>) {
        let Ok(now) = std::fs::read(&self.path) else {
            // Mid-rename or removed: the recorded gate stays.
            return;
        };
        if self.seen.as_ref() == Some(&now) {
            return;
        }
        self.seen = Some(now);
        let store = Arc::clone(store);
        let path = self.path.clone();
        let token = self.feed_token.clone();
        match tokio::task::spawn_blocking(move || set_gate(&store, &path, token.as_deref())).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::error!(%error, "gate file changed but is refused; Envoy keeps the last gate")
            }
            Err(error) => tracing::error!(%error, "gate file: task failed"),
        }
    }
}

/// What a render was made from: the store version and the records.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    version: u64,
    gate: Option<String>,
    render: Option<String>,
}

/// The upstream clusters of a render: all of them, and those the filter routes to.
#[derive(Debug, Clone, Default)]
struct Clusters {
    all: BTreeSet<String>,
    routed: BTreeSet<String>,
    /// The client-certificate clusters, to keep one a change retires while it is routed.
    certificate: Vec<plan::CertificateCluster>,
}

impl Clusters {
    fn of(apis: &[plan::ApiUpstream]) -> Self {
        let mut clusters = Clusters::default();
        for api in apis {
            clusters.all.insert(api.plain_cluster.name.clone());
            if let Some(cert) = &api.certificate_cluster {
                clusters.all.insert(cert.cluster.name.clone());
                clusters.certificate.push(cert.clone());
            }
            clusters.routed.insert(api.routed_cluster.clone());
        }
        clusters
    }
}

/// The records when they name an out directory on this machine.
fn target(store: &Store) -> Result<Option<(GateRecord, RenderRecord)>, StoreError> {
    let Some(render) = record::load_render(store)? else {
        return Ok(None);
    };
    if !render.out_dir.is_dir() {
        return Ok(None);
    }
    Ok(record::load_gate(store)?.map(|gate| (gate, render)))
}

struct Live {
    state: Arc<AppState>,
    gate_file: Option<GateFile>,
    /// The stamp last acted on.
    done: Option<Stamp>,
    /// The clusters of the last render this task made.
    last: Option<Clusters>,
    /// Whether the last look found a render to follow (to log changes of that only).
    following: Option<PathBuf>,
}

/// What one render attempt came to.
enum Attempt {
    Rendered { wrote: bool },
    Failed,
}

impl Live {
    fn new(state: Arc<AppState>, gate_file: Option<GateFile>) -> Self {
        Live {
            state,
            gate_file,
            done: None,
            last: None,
            following: None,
        }
    }

    async fn run(mut self) {
        let mut writes = self.state.writes.subscribe();
        writes.borrow_and_update();
        loop {
            if let Some(file) = self.gate_file.as_mut() {
                file.follow(&self.state.store).await;
            }
            match self.blocking(read_stamp).await {
                Ok(stamp) if self.done.as_ref() != Some(&stamp) => self.cycle(stamp).await,
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "live render: cannot read the store"),
            }
            wait_for_change(&mut writes).await;
        }
    }

    /// Lets the filters see the store up to `version`.
    fn release(&self, version: u64) {
        self.state.feed_cap.send_replace(version);
    }

    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = Arc::clone(&self.state.store);
        tokio::task::spawn_blocking(move || call(&store))
            .await
            .map_err(|e| StoreError::Backend(format!("live render task: {e}")))?
    }

    async fn cycle(&mut self, stamp: Stamp) {
        let version = stamp.version;
        self.done = Some(stamp);
        let found = match self.blocking(target).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(%error, "live render: cannot read the render record");
                self.release(version);
                return;
            }
        };
        let Some((gate, render)) = found else {
            if let Some(dir) = self.following.take() {
                tracing::info!(out = %dir.display(), "live render: no render to follow here any more");
            }
            self.last = None;
            self.release(u64::MAX);
            return;
        };
        if self.following.as_ref() != Some(&render.out_dir) {
            tracing::info!(
                out = %render.out_dir.display(),
                gate = %gate.source,
                "live render: following the store into this Envoy config"
            );
            self.following = Some(render.out_dir.clone());
        }
        let options = match gate_options(&gate, &render, feed_token(&self.state)) {
            Ok(options) => Arc::new(options),
            Err(error) => {
                tracing::error!(%error, "live render: cannot render; Envoy keeps its files");
                self.release(version);
                return;
            }
        };
        let planned = {
            let options = Arc::clone(&options);
            let store = Arc::clone(&self.state.store);
            tokio::task::spawn_blocking(move || plan_clusters(&options, &store)).await
        };
        let (planned, sync_interval) = match planned {
            Ok(Ok(planned)) => planned,
            Ok(Err(error)) => {
                tracing::error!(%error, "live render: cannot render; Envoy keeps its files");
                self.release(version);
                return;
            }
            Err(error) => {
                tracing::error!(%error, "live render: task failed");
                self.release(version);
                return;
            }
        };
        // Certificate clusters the filters route to now that the change takes away.
        let retired_in_use: Vec<plan::CertificateCluster> = match &self.last {
            None => Vec::new(),
            Some(last) => last
                .certificate
                .iter()
                .filter(|c| {
                    last.routed.contains(&c.cluster.name) && !planned.all.contains(&c.cluster.name)
                })
                .cloned()
                .collect(),
        };
        let needs_new = self
            .last
            .as_ref()
            .is_none_or(|last| !planned.routed.is_subset(&last.all));
        if !retired_in_use.is_empty() {
            // Envoy gets the new clusters (if any) while keeping the retired ones; the filters
            // move over; then Envoy drops the retired ones.
            if needs_new
                && let Attempt::Rendered { wrote: true } =
                    self.render(&options, retired_in_use).await
            {
                tokio::time::sleep(SETTLE).await;
            }
            self.release(version);
            tokio::time::sleep(sync_interval + FILTER_MARGIN).await;
            self.render(&options, Vec::new()).await;
            return;
        }
        if let Attempt::Rendered { wrote: true } = self.render(&options, Vec::new()).await {
            tokio::time::sleep(SETTLE).await;
        }
        self.release(version);
    }

    /// Renders the store now, keeping `retained` clusters besides what it needs. Under the
    /// out directory's lock, and only if the records are still those `options` came from: a
    /// `render` run by hand in the meantime recorded a newer gate, which the next cycle takes.
    async fn render(
        &mut self,
        options: &Arc<RenderOptions>,
        retained: Vec<plan::CertificateCluster>,
    ) -> Attempt {
        let out = options.out_dir.clone();
        let planned_from = self.done.clone();
        let result = {
            let options = Arc::clone(options);
            let store = Arc::clone(&self.state.store);
            tokio::task::spawn_blocking(move || {
                let _lock =
                    files::lock_out_dir(&options.out_dir).map_err(|source| RenderError::Io {
                        path: options.out_dir.clone(),
                        source,
                    })?;
                let now = read_stamp(&store).map_err(RenderError::Store)?;
                let same = planned_from
                    .as_ref()
                    .is_some_and(|p| p.gate == now.gate && p.render == now.render);
                if !same {
                    return Ok(None);
                }
                render::render_dir_retaining(&options, &store, &retained).map(Some)
            })
            .await
        };
        let rendered = match result {
            Ok(Ok(Some(rendered))) => rendered,
            Ok(Ok(None)) => {
                tracing::debug!(out = %out.display(), "live render: the records changed meanwhile; rendering the new ones next");
                return Attempt::Failed;
            }
            Ok(Err(error)) => {
                tracing::error!(out = %out.display(), %error, "live render failed; Envoy keeps its files, retried on the next change");
                return Attempt::Failed;
            }
            Err(error) => {
                tracing::error!(%error, "live render: task failed");
                return Attempt::Failed;
            }
        };
        for warning in &rendered.warnings {
            tracing::warn!(%warning, "live render");
        }
        let wrote = !rendered.written.is_empty() || !rendered.removed.is_empty();
        if wrote {
            tracing::info!(
                out = %out.display(),
                written = ?file_names(&out, &rendered.written),
                removed = ?file_names(&out, &rendered.removed),
                "live render: Envoy config updated"
            );
        } else {
            tracing::debug!(out = %out.display(), "live render: nothing changed");
        }
        self.last = Some(Clusters::of(&rendered.upstreams));
        Attempt::Rendered { wrote }
    }
}

fn read_stamp(store: &Store) -> Result<Stamp, StoreError> {
    Ok(Stamp {
        version: store.version()?,
        gate: store.named_record(record::GATE_RECORD)?,
        render: store.named_record(record::RENDER_RECORD)?,
    })
}

fn gate_options(
    gate: &GateRecord,
    render: &RenderRecord,
    feed_token: Option<String>,
) -> Result<RenderOptions, String> {
    let json = gate.gate_json_here().map_err(|e| e.to_string())?;
    render.options(json, feed_token)
}

/// The shim's own feed token: what a render it makes fills into an empty `store.token`.
fn feed_token(state: &AppState) -> Option<String> {
    state.feed_token.as_ref().map(|t| t.expose().to_owned())
}

/// The clusters a render would write now, and how often the filters sync.
fn plan_clusters(
    options: &RenderOptions,
    store: &Store,
) -> Result<(Clusters, Duration), RenderError> {
    let authority = format!("{}:{}", options.shim.host, options.shim.port);
    let gate = render::prepare_gate(
        &options.gate_json,
        &authority,
        options.feed_token.as_deref(),
    )?;
    let secrets = options.out_dir.join("secrets");
    let planned = plan::plan(&gate.config, store, &options.upstreams, &secrets)?;
    let sync_interval = gate.config.store.as_ref().map_or(Duration::ZERO, |s| {
        Duration::from_millis(s.sync_interval_ms)
    });
    Ok((Clusters::of(&planned.apis), sync_interval))
}

/// Paths relative to `out` (file names only in logs; never contents).
fn file_names(out: &Path, paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .map(|p| p.strip_prefix(out).unwrap_or(p).display().to_string())
        .collect()
}

/// Returns after this shim's next acknowledged write (and the burst it starts), or after
/// [`POLL`] (writes through other shims of the store).
async fn wait_for_change(writes: &mut tokio::sync::watch::Receiver<u64>) {
    match tokio::time::timeout(POLL, writes.changed()).await {
        Ok(Ok(())) => {
            let start = tokio::time::Instant::now();
            while start.elapsed() < MAX_DEBOUNCE {
                match tokio::time::timeout(QUIET, writes.changed()).await {
                    Ok(Ok(())) => continue,
                    _ => break,
                }
            }
        }
        Ok(Err(_)) => tokio::time::sleep(POLL).await, // no sender: only the poll is left
        Err(_) => {}
    }
}
