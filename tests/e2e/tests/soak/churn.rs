//! The churn: one admin change every [`super::CHURN_EVERY`], on static lists by store ID,
//! certificate-auth sessions and CA entries, each recorded on the timelines it changes.

use super::load::{Group, Probe, client_tls};
use super::timeline::{SharedTimeline, Timeline, change, lock};
use super::{CAS, CHURN_EVERY, LEAVES_PER_CA, ORG, SESSION_SLOTS, STATIC_PAIRS};
use anyhow::{Context, Result, bail};
use mtls_gate_e2e::Admin;
use mtls_gate_testkit::chains::{ChainIssuer, KeyKind};
use mtls_gate_testkit::{CertFiles, ClientMint, pki};
use rustls::RootCertStore;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc;

/// What a probe's connection presents: the leaf (then any intermediates) and its key.
struct Presented<'a> {
    name: &'a str,
    fingerprint: &'a str,
    chain_pem: &'a str,
    key_pem: &'a str,
}

impl<'a> Presented<'a> {
    fn of(cert: &'a CertFiles) -> Self {
        Presented {
            name: &cert.name,
            fingerprint: &cert.fingerprint,
            chain_pem: &cert.cert_pem,
            key_pem: &cert.key_pem,
        }
    }
}

/// A pair of certificates the static list names by store ID; exactly one is uploaded.
struct StaticPair {
    certs: [StaticCert; 2],
    present: usize,
}

struct StaticCert {
    cert_pem: String,
    id: String,
    timeline: SharedTimeline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyState {
    Absent,
    Active,
    Inactive,
}

/// A certificate of certificate auth, and its key.
struct SessionCert {
    cert: CertFiles,
    id: String,
    uploaded: bool,
    key: KeyState,
    timeline: SharedTimeline,
    retired: Arc<AtomicBool>,
}

impl SessionCert {
    fn allowed(&self) -> bool {
        self.uploaded && self.key == KeyState::Active
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionAction {
    UploadCert,
    DeleteCert,
    CreateKey,
    DeleteKey,
    Deactivate,
    Activate,
}

/// A client of certificate auth: its current certificate and, after a rotation, the one
/// before, whose connection stays open to see that it stays refused.
struct SessionSlot {
    current: SessionCert,
    previous: Option<SessionCert>,
}

/// A CA the `/ca/` list names by store ID, and the timelines of the leaves it signed.
struct CaGroup {
    pem: String,
    id: String,
    uploaded: bool,
    leaves: Vec<SharedTimeline>,
}

/// xorshift64*: reproducible from its seed, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        usize::try_from(x % u64::try_from(n.max(1)).unwrap_or(1)).unwrap_or(0)
    }
}

/// The admin side of the soak: what is uploaded and what each certificate should get.
pub(super) struct Churn {
    admin: Admin,
    roots: Arc<RootCertStore>,
    mint: ClientMint,
    rng: Rng,
    statics: Vec<StaticPair>,
    sessions: Vec<SessionSlot>,
    cas: Vec<CaGroup>,
    /// The probes made at set-up, taken by the load when it starts.
    pub(super) probes: Vec<Probe>,
    more_probes: mpsc::UnboundedSender<Probe>,
    /// Set once the load runs: new probes go to it instead of `probes`.
    live: bool,
    /// Every certificate's timeline, for the revocation figures.
    pub(super) timelines: Arc<Mutex<Vec<SharedTimeline>>>,
    /// Admin calls, state flips and rotations, by name.
    pub(super) counts: Counts,
}

pub(super) type Counts = BTreeMap<&'static str, u64>;

fn count(counts: &mut Counts, what: &'static str) {
    *counts.entry(what).or_default() += 1;
}

fn session_body(id: &str, inactive: bool) -> Value {
    json!({
        "org_id": ORG,
        "certificate": id,
        "alias": format!("soak-{}", id.get(ORG.len()..ORG.len() + 8).unwrap_or(id)),
        "is_inactive": inactive,
        "access_rights": {"dyn": {"api_id": "dyn", "api_name": "Dynamic", "versions": ["Default"]}}
    })
}

/// `POST /tyk/certs`, checking the ID the shim gives is the one the gate names.
fn upload(admin: &Admin, pem: &str, id: &str) -> Result<()> {
    let added = admin.add_cert(pem, ORG)?;
    if added != id {
        bail!("uploaded {id} but the shim named it {added}");
    }
    Ok(())
}

/// One session action, as a change of the certificate's timeline when it flips what the
/// certificate should get.
fn session_action(
    admin: &Admin,
    counts: &mut Counts,
    cert: &mut SessionCert,
    action: SessionAction,
) -> Result<()> {
    let before = cert.allowed();
    let (uploaded, key) = match action {
        SessionAction::UploadCert => (true, cert.key),
        SessionAction::DeleteCert => (false, cert.key),
        SessionAction::CreateKey | SessionAction::Activate => (cert.uploaded, KeyState::Active),
        SessionAction::DeleteKey => (cert.uploaded, KeyState::Absent),
        SessionAction::Deactivate => (cert.uploaded, KeyState::Inactive),
    };
    let after = uploaded && key == KeyState::Active;
    let id = cert.id.as_str();
    let call = || -> Result<&'static str> {
        Ok(match action {
            SessionAction::UploadCert => {
                upload(admin, &cert.cert.cert_pem, id)?;
                "POST /tyk/certs"
            }
            SessionAction::DeleteCert => {
                admin.delete_cert(id)?;
                "DELETE /tyk/certs"
            }
            SessionAction::CreateKey => {
                let key = admin.create_key(&session_body(id, false))?;
                if key != id {
                    bail!("created key {key}, expected {id}");
                }
                "POST /tyk/keys/create"
            }
            SessionAction::DeleteKey => {
                admin.delete_key(id)?;
                "DELETE /tyk/keys"
            }
            SessionAction::Deactivate | SessionAction::Activate => {
                let inactive = action == SessionAction::Deactivate;
                admin.update_key(id, &session_body(id, inactive))?;
                "PUT /tyk/keys"
            }
        })
    };
    let what = if before == after {
        call()
    } else {
        change(&[&cert.timeline], after, call)
    }
    .with_context(|| format!("{action:?} on {}", cert.cert.name))?;
    count(counts, what);
    if before != after {
        count(counts, if after { "admissions" } else { "revocations" });
    }
    (cert.uploaded, cert.key) = (uploaded, key);
    Ok(())
}

impl Churn {
    /// Uploads the starting state (one certificate of each static pair, every session with
    /// an active key, every CA) and makes a probe for every certificate.
    pub(super) fn populate(
        admin: Admin,
        roots: Arc<RootCertStore>,
        more_probes: mpsc::UnboundedSender<Probe>,
        seed: u64,
    ) -> Result<Self> {
        let mut churn = Churn {
            admin,
            roots,
            mint: ClientMint::new()?,
            rng: Rng(seed | 1),
            statics: Vec::new(),
            sessions: Vec::new(),
            cas: Vec::new(),
            probes: Vec::new(),
            more_probes,
            live: false,
            timelines: Arc::new(Mutex::new(Vec::new())),
            counts: Counts::new(),
        };
        for pair in 0..STATIC_PAIRS {
            let mut certs = Vec::new();
            for member in 0..2 {
                let cert = churn.mint.mint(&format!("static{pair}"))?;
                let uploaded = member == 0;
                let timeline = Timeline::shared(uploaded);
                let id = format!("{ORG}{}", cert.fingerprint);
                if uploaded {
                    upload(&churn.admin, &cert.cert_pem, &id)?;
                    churn.count("POST /tyk/certs");
                }
                churn.probe(Group::Static, Presented::of(&cert), &timeline, None)?;
                certs.push(StaticCert {
                    cert_pem: cert.cert_pem,
                    id,
                    timeline,
                });
            }
            let certs: [StaticCert; 2] = certs
                .try_into()
                .map_err(|_| anyhow::anyhow!("a static pair has two certificates"))?;
            churn.statics.push(StaticPair { certs, present: 0 });
        }
        for _ in 0..SESSION_SLOTS {
            let current = churn.fresh_session_cert()?;
            churn.sessions.push(SessionSlot {
                current,
                previous: None,
            });
        }
        for i in 0..CAS {
            let root = ChainIssuer::root(&format!("soak ca {i}"), KeyKind::EcdsaP256);
            // The last CA's second leaf chains through an intermediate it presents.
            let issuing =
                (i + 1 == CAS).then(|| root.intermediate("soak issuing", KeyKind::EcdsaP256));
            let id = format!("{ORG}{}", pki::fingerprint(&root.der));
            upload(&churn.admin, &root.pem, &id)?;
            churn.count("POST /tyk/certs");
            let mut leaves = Vec::new();
            for j in 0..LEAVES_PER_CA {
                let name = format!("ca{i}-leaf{j}");
                let (leaf, chain) = match (&issuing, j) {
                    (Some(issuing), 1) => {
                        let leaf = issuing.leaf(&name);
                        let chain = format!("{}{}", leaf.pem, issuing.pem);
                        (leaf, chain)
                    }
                    _ => {
                        let leaf = root.leaf(&name);
                        let chain = leaf.pem.clone();
                        (leaf, chain)
                    }
                };
                let presented = Presented {
                    name: &name,
                    fingerprint: &leaf.fingerprint(),
                    chain_pem: &chain,
                    key_pem: &leaf.key_pem,
                };
                let timeline = Timeline::shared(true);
                churn.probe(Group::Ca, presented, &timeline, None)?;
                leaves.push(timeline);
            }
            churn.cas.push(CaGroup {
                pem: root.pem,
                id,
                uploaded: true,
                leaves,
            });
        }
        Ok(churn)
    }

    pub(super) fn static_ids(&self) -> Vec<String> {
        self.statics
            .iter()
            .flat_map(|p| p.certs.iter().map(|c| c.id.clone()))
            .collect()
    }

    pub(super) fn ca_ids(&self) -> Vec<String> {
        self.cas.iter().map(|c| c.id.clone()).collect()
    }

    /// A probe of `presented`: kept for the start of the load, or sent to it once it runs.
    fn probe(
        &mut self,
        group: Group,
        presented: Presented,
        timeline: &SharedTimeline,
        retired: Option<&Arc<AtomicBool>>,
    ) -> Result<()> {
        let probe = Probe {
            name: presented.name.to_owned(),
            group,
            fingerprint: presented.fingerprint.to_owned(),
            tls: client_tls(&self.roots, presented.chain_pem, presented.key_pem)?,
            timeline: Arc::clone(timeline),
            retired: retired.map_or_else(|| Arc::new(AtomicBool::new(false)), Arc::clone),
        };
        lock(&self.timelines).push(Arc::clone(timeline));
        if self.live {
            self.more_probes
                .send(probe)
                .map_err(|_| anyhow::anyhow!("the load has stopped"))?;
        } else {
            self.probes.push(probe);
        }
        Ok(())
    }

    /// A new certificate, uploaded, with an active key, and its probe.
    fn fresh_session_cert(&mut self) -> Result<SessionCert> {
        let cert = self.mint.mint("session")?;
        let mut fresh = SessionCert {
            id: format!("{ORG}{}", cert.fingerprint),
            cert,
            uploaded: false,
            key: KeyState::Absent,
            timeline: Timeline::shared(false),
            retired: Arc::new(AtomicBool::new(false)),
        };
        for action in [SessionAction::UploadCert, SessionAction::CreateKey] {
            session_action(&self.admin, &mut self.counts, &mut fresh, action)?;
        }
        self.probe(
            Group::Session,
            Presented::of(&fresh.cert),
            &fresh.timeline,
            Some(&fresh.retired),
        )?;
        Ok(fresh)
    }

    fn count(&mut self, what: &'static str) {
        count(&mut self.counts, what);
    }

    /// Changes until `deadline`, one every [`CHURN_EVERY`] (a slow admin call delays the
    /// next change rather than bunching them).
    pub(super) fn run(&mut self, deadline: Instant) -> Result<()> {
        self.live = true;
        let mut next = Instant::now();
        while Instant::now() < deadline {
            self.step()?;
            next += CHURN_EVERY;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else {
                next = now;
            }
        }
        Ok(())
    }

    fn step(&mut self) -> Result<()> {
        let entities = self.statics.len() + self.sessions.len() + self.cas.len();
        let mut pick = self.rng.below(entities);
        if pick < self.statics.len() {
            return self.rotate_static(pick);
        }
        pick -= self.statics.len();
        if pick < self.sessions.len() {
            return self.churn_session(pick);
        }
        self.toggle_ca(pick - self.sessions.len())
    }

    /// Uploads the absent certificate of the pair (admitted), then deletes the present one
    /// (revoked).
    fn rotate_static(&mut self, i: usize) -> Result<()> {
        let admin = &self.admin;
        let pair = &mut self.statics[i];
        let (incoming, outgoing) = (&pair.certs[1 - pair.present], &pair.certs[pair.present]);
        change(&[&incoming.timeline], true, || {
            upload(admin, &incoming.cert_pem, &incoming.id)
        })?;
        change(&[&outgoing.timeline], false, || {
            Ok(admin.delete_cert(&outgoing.id)?)
        })?;
        pair.present = 1 - pair.present;
        for what in [
            "POST /tyk/certs",
            "DELETE /tyk/certs",
            "admissions",
            "revocations",
            "static rotations",
        ] {
            self.count(what);
        }
        Ok(())
    }

    /// One action on the slot's certificate, or one time in five a rotation to a new one.
    fn churn_session(&mut self, i: usize) -> Result<()> {
        if self.rng.below(5) == 0 {
            return self.rotate_session(i);
        }
        let current = &self.sessions[i].current;
        let actions: &[SessionAction] = match (current.uploaded, current.key) {
            (true, KeyState::Active) => &[
                SessionAction::Deactivate,
                SessionAction::DeleteKey,
                SessionAction::DeleteCert,
            ],
            (true, KeyState::Inactive) => &[
                SessionAction::Activate,
                SessionAction::DeleteKey,
                SessionAction::DeleteCert,
            ],
            (true, KeyState::Absent) => &[SessionAction::CreateKey, SessionAction::DeleteCert],
            // A key's certificate must exist to create or change the key (SPEC §2).
            (false, _) => &[SessionAction::UploadCert],
        };
        let action = actions[self.rng.below(actions.len())];
        session_action(
            &self.admin,
            &mut self.counts,
            &mut self.sessions[i].current,
            action,
        )
    }

    /// A new certificate with an active key takes over the slot; the old one's key and
    /// certificate are deleted (revoked), and the one before that stops being probed.
    fn rotate_session(&mut self, i: usize) -> Result<()> {
        let fresh = self.fresh_session_cert()?;
        let mut old = std::mem::replace(&mut self.sessions[i].current, fresh);
        if old.key != KeyState::Absent {
            session_action(
                &self.admin,
                &mut self.counts,
                &mut old,
                SessionAction::DeleteKey,
            )?;
        }
        if old.uploaded {
            session_action(
                &self.admin,
                &mut self.counts,
                &mut old,
                SessionAction::DeleteCert,
            )?;
        }
        if let Some(gone) = self.sessions[i].previous.replace(old) {
            gone.retired.store(true, Ordering::Relaxed);
        }
        self.count("session rotations");
        Ok(())
    }

    /// Deletes the CA (every leaf it signed revoked) or uploads it again (admitted).
    fn toggle_ca(&mut self, i: usize) -> Result<()> {
        let admin = &self.admin;
        let ca = &mut self.cas[i];
        let leaves: Vec<&SharedTimeline> = ca.leaves.iter().collect();
        let uploaded = !ca.uploaded;
        if uploaded {
            change(&leaves, true, || upload(admin, &ca.pem, &ca.id))?;
        } else {
            change(&leaves, false, || Ok(admin.delete_cert(&ca.id)?))?;
        }
        ca.uploaded = uploaded;
        let (call, flip) = if uploaded {
            ("POST /tyk/certs", "admissions")
        } else {
            ("DELETE /tyk/certs", "revocations")
        };
        self.count(call);
        self.count("CA toggles");
        for _ in 0..LEAVES_PER_CA {
            self.count(flip);
        }
        Ok(())
    }
}
