//! The storage SCP: a TCP listener, one thread per association, and the association's life —
//! the allow-list at A-ASSOCIATE, P-DATA fragments gathered into one command, a data set
//! streamed to its temporary file as it arrives, C-ECHO and C-STORE answered, everything else
//! answered with Unrecognized Operation.
//!
//! A fault of one association (a peer that disconnects mid-instance, a malformed PDU, a
//! silence longer than the timeout) ends that association only: the temporary file of the
//! instance it had not finished sending is removed, so nothing partial reaches a `.dcm` name.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use dicom_ul::ServerAssociationOptions;
use dicom_ul::association::CloseSocket;
use dicom_ul::association::server::AccessControl;
use dicom_ul::pdu::{
    AssociationRJ, AssociationRJResult, AssociationRJServiceProviderPresentationReason, AssociationRJServiceUserReason,
    AssociationRJSource, PDataValue, PDataValueType, PresentationContextResultReason, UserIdentity,
};
use dicom_ul::{Pdu, ServerAssociation};

use crate::dimse::{self, Command, status};
use crate::error::DicomError;
use crate::metrics::Metrics;
use crate::recorder::{Arrival, Peer, Recorder};
use crate::settings::{AllowList, Settings};
use crate::storage::{Instance, InstanceStore, Receiving, StorageError, Stored};
use crate::uid::trim;
use crate::wire::{Item, PduReader};

/// Transfer syntaxes berth accepts, in no order of its own: the sender's first one that is
/// here is chosen, so compressed data arrive (and are stored) as the sender has them. No
/// deflate: a deflated data set would have to be inflated to be read.
pub const TRANSFER_SYNTAXES: &[&str] = &[
    "1.2.840.10008.1.2",      // Implicit VR Little Endian
    "1.2.840.10008.1.2.1",    // Explicit VR Little Endian
    "1.2.840.10008.1.2.2",    // Explicit VR Big Endian (retired, still sent by old modalities)
    "1.2.840.10008.1.2.4.50", // JPEG Baseline
    "1.2.840.10008.1.2.4.51", // JPEG Extended
    "1.2.840.10008.1.2.4.57", // JPEG Lossless
    "1.2.840.10008.1.2.4.70", // JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80", // JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81", // JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90", // JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91", // JPEG 2000
    "1.2.840.10008.1.2.5",    // RLE Lossless
];

/// A bound listener, ready to serve.
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
    shared: Arc<Shared>,
    swept: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

/// Stops a [`Listener`] serving on another thread (`berth serve`'s shutdown): associations in
/// progress finish on their own threads; no new one is accepted.
#[derive(Debug, Clone)]
pub struct Stopper {
    stop: Arc<std::sync::atomic::AtomicBool>,
    address: SocketAddr,
}

impl Stopper {
    /// Asks the listener to stop, and wakes its blocking `accept` with a connection of our own
    /// (std has no way to interrupt it).
    pub fn stop(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut wake = self.address;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake.ip() {
                IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
    }
}

struct Shared {
    settings: Settings,
    storage: InstanceStore,
    recorder: Arc<dyn Recorder>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Listener {
    /// Opens the data root, removes the temporary files a killed node left there, and binds
    /// the port.
    pub fn bind(settings: Settings, recorder: Arc<dyn Recorder>) -> Result<Self, DicomError> {
        let root_err = |source| DicomError::DataRoot { path: settings.data_root.clone(), source };
        let storage = InstanceStore::open(&settings.data_root, settings.duplicates, settings.sync).map_err(root_err)?;
        let swept = storage.sweep().map_err(root_err)?;
        let address = SocketAddr::new(settings.bind, settings.port);
        let tcp =
            TcpListener::bind(address).map_err(|source| DicomError::Bind { address: address.to_string(), source })?;
        let metrics = Arc::new(Metrics::default());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        Ok(Self { tcp, shared: Arc::new(Shared { settings, storage, recorder, metrics }), swept, stop })
    }

    /// The address bound (with the port chosen when 0 was asked).
    pub fn local_addr(&self) -> Result<SocketAddr, DicomError> {
        self.tcp.local_addr().map_err(|source| DicomError::Accept { source })
    }

    /// How many temporary files of a killed node were removed when binding.
    pub fn swept(&self) -> usize {
        self.swept
    }

    /// The node's counters.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.shared.metrics)
    }

    /// The resolved settings.
    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    /// What stops [`Listener::serve`].
    pub fn stopper(&self) -> Result<Stopper, DicomError> {
        Ok(Stopper { stop: Arc::clone(&self.stop), address: self.local_addr()? })
    }

    /// Serves associations until accepting fails for good or a [`Stopper`] stops it. Each runs
    /// on its own thread.
    pub fn serve(self) -> Result<(), DicomError> {
        loop {
            let accepted = self.tcp.accept();
            if self.stop.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(());
            }
            match accepted {
                Ok((stream, peer)) => {
                    let shared = Arc::clone(&self.shared);
                    let spawned = std::thread::Builder::new()
                        .name(format!("dicom {peer}"))
                        .spawn(move || connection(&shared, stream, peer));
                    if let Err(e) = spawned {
                        tracing::warn!("cannot start a thread for the association from {peer}: {e}");
                    }
                }
                // Resource limits (EMFILE) and connections reset before accept pass.
                Err(e) if is_transient(&e) => {
                    tracing::warn!("accepting a DICOM connection failed: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(source) => return Err(DicomError::Accept { source }),
            }
        }
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted | WouldBlock | TimedOut)
        || matches!(e.raw_os_error(), Some(23 | 24 | 105 | 12))
}

/// The access decision for one connection: the called AE title must be ours, the calling one
/// and the peer's address on the project's allow-list. Why it refused is kept for the record.
struct Gate<'a> {
    allow: &'a AllowList,
    peer: IpAddr,
    seen: Arc<Mutex<Seen>>,
}

/// The calling and called AE titles of a request, and why it was refused (if it was).
type Seen = Option<(String, String, Option<&'static str>)>;

impl AccessControl for Gate<'_> {
    fn check_access(
        &self,
        this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        let calling = trim(calling_ae_title).to_owned();
        let called = trim(called_ae_title).to_owned();
        let verdict = if called != this_ae_title {
            Err(("called AE title is not ours", AssociationRJServiceUserReason::CalledAETitleNotRecognized))
        } else if !self.allow.allows_title(&calling) {
            Err(("calling AE title not allowed", AssociationRJServiceUserReason::CallingAETitleNotRecognized))
        } else if !self.allow.allows_address(self.peer) {
            // PS3.8 has no reason for an address; "no reason given", permanent.
            Err(("source address not allowed", AssociationRJServiceUserReason::NoReasonGiven))
        } else {
            Ok(())
        };
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((calling, called, verdict.as_ref().err().map(|v| v.0)));
        verdict.map_err(|v| v.1)
    }
}

fn connection(shared: &Shared, stream: TcpStream, peer: SocketAddr) {
    let s = &shared.settings;
    let _ = stream.set_nodelay(true);
    let who = Peer {
        project: s.project.clone(),
        data_root: s.data_root.display().to_string(),
        calling_ae: String::new(),
        called_ae: String::new(),
        address: peer.to_string(),
    };
    let Some(_active) = shared.metrics.enter(s.max_associations) else {
        shared.metrics.rejected();
        reject_busy(stream, s);
        record_rejection(shared, &who, "too many associations");
        return;
    };
    let seen = Arc::new(Mutex::new(None));
    let gate = Gate { allow: &s.allow, peer: peer.ip(), seen: Arc::clone(&seen) };
    let mut options = ServerAssociationOptions::new()
        .ae_access_control(gate)
        .ae_title(s.ae_title.as_str())
        .promiscuous(true)
        .strict(true)
        .max_pdu_length(s.max_pdu)
        .read_timeout(s.timeout)
        .write_timeout(s.timeout);
    for ts in TRANSFER_SYNTAXES {
        options = options.with_transfer_syntax(*ts);
    }
    match &s.tls {
        Some(tls) => {
            let established = options.tls_config(Arc::clone(tls)).establish_tls(stream);
            after_establish(shared, established, &seen, who, peer);
        }
        None => {
            let established = options.establish(stream);
            after_establish(shared, established, &seen, who, peer);
        }
    }
}

/// Records the outcome of A-ASSOCIATE and serves the association when it was accepted.
fn after_establish<S: Read + Write + CloseSocket>(
    shared: &Shared,
    established: Result<ServerAssociation<S>, dicom_ul::association::Error>,
    seen: &Mutex<Seen>,
    mut who: Peer,
    peer: SocketAddr,
) {
    let seen = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    if let Some((calling, called, _)) = &seen {
        who.calling_ae = calling.clone();
        who.called_ae = called.clone();
    }
    let association = match established {
        Ok(a) => a,
        Err(e) => {
            match seen {
                Some((_, _, Some(why))) => {
                    shared.metrics.rejected();
                    tracing::info!("association from {peer} ({}) rejected: {why}", who.calling_ae);
                    record_rejection(shared, &who, why);
                }
                _ => {
                    shared.metrics.aborted();
                    tracing::info!("association from {peer} failed before it was established: {e}");
                }
            }
            return;
        }
    };
    shared.metrics.accepted();
    let id = shared
        .recorder
        .association(&who, "accepted", None)
        .map_err(|e| tracing::warn!("cannot record the association from {peer}: {e}"))
        .ok();
    let end = serve_association(shared, association, &who, id);
    if end != "released" {
        shared.metrics.aborted();
    }
    tracing::info!("association from {peer} ({}) ended: {end}", who.calling_ae);
    if let Some(id) = id
        && let Err(e) = shared.recorder.association_ended(id, end)
    {
        tracing::warn!("cannot record the end of the association from {peer}: {e}");
    }
}

fn record_rejection(shared: &Shared, who: &Peer, why: &str) {
    if let Err(e) = shared.recorder.association(who, "rejected", Some(why)) {
        tracing::warn!("cannot record the rejected association from {}: {e}", who.address);
    }
}

/// Answers an association request with A-ASSOCIATE-RJ, transient, local limit exceeded
/// (PS3.8 §9.3.4), reading the request first so that the peer sees the rejection and not a
/// reset connection.
fn reject_busy(mut stream: TcpStream, s: &Settings) {
    let _ = stream.set_read_timeout(Some(s.timeout.min(Duration::from_secs(10))));
    let mut buf = bytes_buf();
    if dicom_ul::association::read_pdu_from_wire(&mut stream, &mut buf, s.max_pdu, true).is_err() {
        return;
    }
    let rj = Pdu::AssociationRJ(AssociationRJ {
        result: AssociationRJResult::Transient,
        source: AssociationRJSource::ServiceProviderPresentation(
            AssociationRJServiceProviderPresentationReason::LocalLimitExceeded,
        ),
    });
    let mut out = Vec::new();
    if dicom_ul::write_pdu(&mut out, &rj).is_ok() {
        let _ = stream.write_all(&out);
    }
}

fn bytes_buf() -> bytes::BytesMut {
    bytes::BytesMut::new()
}

/// One presentation data value, as the loop uses it.
struct Value<'b> {
    presentation_context_id: u8,
    value_type: PDataValueType,
    is_last: bool,
    data: &'b [u8],
}

/// A C-STORE whose command arrived and whose data set is arriving.
struct Pending<'s> {
    message_id: u16,
    sop_class_uid: String,
    sop_instance_uid: String,
    context: u8,
    /// Its temporary file, the data set written as it comes (dropped: removed).
    file: Option<Receiving<'s>>,
    /// Why it will not be stored (the rest of its data set is read and dropped): the status
    /// to answer and what to log.
    failed: Option<(u16, String)>,
}

impl Pending<'_> {
    fn fail(&mut self, code: u16, why: String) {
        self.file = None;
        if self.failed.is_none() {
            self.failed = Some((code, why));
        }
    }
}

/// The status for an instance that could not be written.
fn write_status(e: &StorageError) -> u16 {
    match e {
        StorageError::Uid { .. } => status::CANNOT_UNDERSTAND,
        e if e.is_no_space() => status::OUT_OF_RESOURCES,
        _ => status::PROCESSING_FAILURE,
    }
}

/// Serves one established association until it is released or fails; returns how it ended.
fn serve_association<'s, S: Read + Write + CloseSocket>(
    shared: &'s Shared,
    mut a: ServerAssociation<S>,
    who: &Peer,
    id: Option<i64>,
) -> &'static str {
    let mut command: Vec<u8> = Vec::new();
    let mut pending: Option<Pending<'s>> = None;
    // A command that carries a data set berth does not want (C-FIND's identifier, ...): the
    // data set is read and dropped, then the response goes out.
    let mut skipping: Option<(u8, u16, u16)> = None;
    let mut wire = PduReader::new(shared.settings.max_pdu);
    loop {
        let item = match wire.next(a.inner_stream()) {
            Ok(i) => i,
            Err(e) => {
                tracing::debug!("association from {}: {}", who.address, ErrorChain(&e));
                let _ = a.abort();
                return if pending.is_some() { "aborted: the peer stopped mid-instance" } else { "aborted" };
            }
        };
        let pdv = match item {
            Item::Value { context, command, last, data } => Value {
                presentation_context_id: context,
                value_type: if command { PDataValueType::Command } else { PDataValueType::Data },
                is_last: last,
                data,
            },
            Item::Other(Pdu::ReleaseRQ) => {
                let _ = a.send(&Pdu::ReleaseRP);
                return "released";
            }
            Item::Other(Pdu::AbortRQ { .. }) => return "aborted by the peer",
            Item::Other(_) => {
                let _ = a.abort();
                return "aborted: unexpected PDU";
            }
        };
        {
            let accepted = a
                .presentation_contexts()
                .iter()
                .find(|pc| {
                    pc.id == pdv.presentation_context_id && pc.reason == PresentationContextResultReason::Acceptance
                })
                .map(|pc| pc.transfer_syntax.clone());
            let Some(transfer_syntax) = accepted else {
                let _ = a.abort();
                return "aborted: data on a presentation context not accepted";
            };
            match pdv.value_type {
                PDataValueType::Command => {
                    if pending.is_some() || skipping.is_some() {
                        let _ = a.abort();
                        return "aborted: a command before the previous data set ended";
                    }
                    command.extend_from_slice(pdv.data);
                    if command.len() > 1 << 16 {
                        let _ = a.abort();
                        return "aborted: command set too large";
                    }
                    if !pdv.is_last {
                        continue;
                    }
                    let parsed = dimse::parse(&command);
                    command.clear();
                    match parsed {
                        Ok(Command::Echo { message_id }) => {
                            shared.metrics.echo();
                            if !respond(&mut a, pdv.presentation_context_id, dimse::echo_response(message_id)) {
                                return "aborted: the response could not be sent";
                            }
                        }
                        Ok(Command::Store { message_id, sop_class_uid, sop_instance_uid }) => {
                            let begun = shared.storage.begin(&Instance {
                                sop_class_uid: &sop_class_uid,
                                sop_instance_uid: &sop_instance_uid,
                                transfer_syntax: &transfer_syntax,
                                calling_ae: &who.calling_ae,
                            });
                            let (file, failed) = match begun {
                                Ok(f) => (Some(f), None),
                                Err(e) => (None, Some((write_status(&e), ErrorChain(&e).to_string()))),
                            };
                            pending = Some(Pending {
                                message_id,
                                sop_class_uid,
                                sop_instance_uid,
                                context: pdv.presentation_context_id,
                                file,
                                failed,
                            });
                        }
                        Ok(Command::Other { command_field, message_id, has_data_set }) => {
                            if has_data_set {
                                skipping = Some((pdv.presentation_context_id, command_field, message_id));
                            } else if !respond(
                                &mut a,
                                pdv.presentation_context_id,
                                dimse::unrecognized_response(command_field, message_id),
                            ) {
                                return "aborted: the response could not be sent";
                            }
                        }
                        Err(e) => {
                            tracing::info!("association from {}: {e}", who.address);
                            let _ = a.abort();
                            return "aborted: unreadable command";
                        }
                    }
                }
                PDataValueType::Data => {
                    if let Some((ctx, field, id)) = skipping {
                        if pdv.is_last {
                            skipping = None;
                            if !respond(&mut a, ctx, dimse::unrecognized_response(field, id)) {
                                return "aborted: the response could not be sent";
                            }
                        }
                        continue;
                    }
                    let Some(p) = pending.as_mut() else {
                        let _ = a.abort();
                        return "aborted: a data set without a command";
                    };
                    if p.context != pdv.presentation_context_id {
                        let _ = a.abort();
                        return "aborted: a data set on another presentation context than its command";
                    }
                    if let Some(f) = p.file.as_mut() {
                        let max = shared.settings.max_instance_bytes;
                        if f.data_len() + pdv.data.len() as u64 > max {
                            p.fail(status::OUT_OF_RESOURCES, format!("it is larger than {max} bytes"));
                        } else if let Err(e) = f.write(pdv.data) {
                            p.fail(write_status(&e), ErrorChain(&e).to_string());
                        }
                    }
                    if !pdv.is_last {
                        continue;
                    }
                    let Some(mut p) = pending.take() else { continue };
                    let code = match (p.failed.take(), p.file.take()) {
                        (None, Some(file)) => store(shared, who, id, &p, file, &transfer_syntax),
                        (failed, _) => {
                            let (code, why) =
                                failed.unwrap_or((status::PROCESSING_FAILURE, "it was not written".to_owned()));
                            tracing::info!(
                                "association from {}: instance {:.64}: {why}",
                                who.address,
                                p.sop_instance_uid
                            );
                            code
                        }
                    };
                    if code != status::SUCCESS {
                        shared.metrics.failed();
                    }
                    let rsp = dimse::store_response(p.message_id, &p.sop_class_uid, &p.sop_instance_uid, code);
                    if !respond(&mut a, p.context, rsp) {
                        return "aborted: the response could not be sent";
                    }
                }
            }
        }
    }
}

fn respond<S: Read + Write + CloseSocket>(
    a: &mut ServerAssociation<S>,
    context: u8,
    encoded: Result<Vec<u8>, dimse::DimseError>,
) -> bool {
    let data = match encoded {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!("{e}");
            return false;
        }
    };
    let pdu = Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: context,
            value_type: PDataValueType::Command,
            is_last: true,
            data,
        }],
    };
    a.send(&pdu).is_ok()
}

/// Puts one complete instance in place and returns the C-STORE status to answer. Success is
/// only returned once the file is in place (durable with `sync = "always"`) and recorded.
fn store(
    shared: &Shared,
    who: &Peer,
    association: Option<i64>,
    p: &Pending<'_>,
    mut file: Receiving<'_>,
    transfer_syntax: &str,
) -> u16 {
    let fail = |code: u16, why: &dyn std::fmt::Display| {
        tracing::info!("association from {}: instance {:.64}: {why}", who.address, p.sop_instance_uid);
        code
    };
    let h = match file.header() {
        Ok(h) => h,
        Err(e) => return fail(status::CANNOT_UNDERSTAND, &e),
    };
    if h.sop_instance_uid.as_deref() != Some(p.sop_instance_uid.as_str())
        || h.sop_class_uid.as_deref() != Some(p.sop_class_uid.as_str())
    {
        return fail(status::DATA_SET_MISMATCH, &"the data set's SOP UIDs differ from the command's");
    }
    let (Some(study_uid), Some(series_uid)) = (h.study_uid.as_deref(), h.series_uid.as_deref()) else {
        return fail(status::CANNOT_UNDERSTAND, &"the data set has no Study or Series Instance UID");
    };
    let arrival = |path: &str, size: u64| Arrival {
        sop_instance_uid: p.sop_instance_uid.clone(),
        sop_class_uid: p.sop_class_uid.clone(),
        study_uid: study_uid.to_owned(),
        series_uid: series_uid.to_owned(),
        transfer_syntax: transfer_syntax.to_owned(),
        path: path.to_owned(),
        size,
        modality: h.modality.clone(),
        series_description: h.series_description.clone(),
        series_number: h.series_number,
        patient_id: h.patient_id.clone(),
        study_date: h.study_date.clone(),
    };
    match file.finish(study_uid, series_uid) {
        Ok(Stored::Written { path, size, replaced }) => {
            if let Err(e) = shared.recorder.instance(who, association, &arrival(&path, size)) {
                // Not acknowledged, so not kept: the sender will send it again.
                if !replaced && let Err(r) = shared.storage.remove(&path) {
                    tracing::warn!("cannot remove {path} after failing to record it: {r}");
                }
                return fail(status::OUT_OF_RESOURCES, &e);
            }
            shared.metrics.stored(size);
            status::SUCCESS
        }
        Ok(Stored::Kept { path, size }) => {
            shared.metrics.duplicate();
            // The file may be there without its record when berth was killed between the two:
            // the sender, never answered, sends it again.
            match shared.recorder.has_instance(&who.project, &p.sop_instance_uid) {
                Ok(true) => status::SUCCESS,
                Ok(false) => match shared.recorder.instance(who, association, &arrival(&path, size)) {
                    Ok(()) => status::SUCCESS,
                    Err(e) => fail(status::OUT_OF_RESOURCES, &e),
                },
                Err(e) => fail(status::OUT_OF_RESOURCES, &e),
            }
        }
        Ok(Stored::Refused { path }) => {
            shared.metrics.duplicate();
            fail(status::DUPLICATE, &format_args!("{path} exists (duplicate rule {:?})", shared.settings.duplicates))
        }
        Err(e) => fail(write_status(&e), &ErrorChain(&e)),
    }
}

/// An error with its causes, for the log.
struct ErrorChain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}
