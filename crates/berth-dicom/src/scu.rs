//! Sending instances to another node (C-STORE SCU): the way results go back to a scanner's
//! PACS or any AE. Each file is sent in the transfer syntax it is stored in (its data set
//! bytes as they are: no transcoding), on an association proposing exactly the (SOP class,
//! transfer syntax) pairs of the files. A transport failure or a refusal for resources (A7xxH)
//! is retried, on a new association, up to the configured number of attempts with a growing
//! delay; other failure statuses are final. What happened to each file is returned, for the
//! caller to record.

use std::io::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dicom_object::meta::FileMetaTable;
use dicom_ul::association::client::ClientAssociationOptions;
use dicom_ul::pdu::{PDataValue, PDataValueType, PresentationContextResultReason};
use dicom_ul::{ClientAssociation, Pdu};

use crate::dimse::{self, status};
use crate::uid::{check_ae_title, trim};

/// Where to send: `AE@host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The called AE title.
    pub ae_title: String,
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Destination {
    /// Parses `AE@host:port`.
    pub fn parse(s: &str) -> Result<Destination, ScuError> {
        let bad = |reason: &str| ScuError::Destination { value: s.to_owned(), reason: reason.to_owned() };
        let (ae, addr) = s.split_once('@').ok_or_else(|| bad("it has no `@`"))?;
        let ae = check_ae_title(ae).map_err(bad)?;
        let (host, port) = addr.rsplit_once(':').ok_or_else(|| bad("it has no `:port`"))?;
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
        if host.is_empty() {
            return Err(bad("the host is empty"));
        }
        Ok(Destination { ae_title: ae.to_owned(), host: host.trim_matches(['[', ']']).to_owned(), port })
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}:{}", self.ae_title, self.host, self.port)
    }
}

/// How to send.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// Our AE title.
    pub calling_ae_title: String,
    /// Attempts per file, the first included (at least 1).
    pub attempts: u32,
    /// The delay before the second attempt; doubled for each next one.
    pub retry_delay: Duration,
    /// Read, write and connection timeout.
    pub timeout: Duration,
    /// The largest PDU we receive.
    pub max_pdu: u32,
}

impl Default for SendOptions {
    fn default() -> Self {
        Self {
            calling_ae_title: crate::settings::DEFAULT_AE_TITLE.to_owned(),
            attempts: 3,
            retry_delay: Duration::from_secs(2),
            timeout: Duration::from_secs(30),
            max_pdu: crate::settings::DEFAULT_MAX_PDU,
        }
    }
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sent {
    /// The file.
    pub path: PathBuf,
    /// Its SOP Instance UID (when it could be read).
    pub sop_instance_uid: Option<String>,
    /// The last status the destination answered (none: no answer).
    pub status: Option<u16>,
    /// Attempts made.
    pub attempts: u32,
    /// Why the last attempt failed, when it did.
    pub error: Option<String>,
}

impl Sent {
    /// Whether the destination answered Success (or a warning, B000H–BFFFH).
    pub fn ok(&self) -> bool {
        matches!(self.status, Some(s) if s == status::SUCCESS || (0xB000..=0xBFFF).contains(&s))
    }
}

/// Why sending could not start.
#[derive(Debug, thiserror::Error)]
pub enum ScuError {
    /// The destination is not `AE@host:port`.
    #[error("`{value}` is not a destination `AE@host:port`: {reason}")]
    Destination {
        /// The text.
        value: String,
        /// Why.
        reason: String,
    },
}

impl ScuError {
    /// How to fix it.
    pub fn hint(&self) -> Option<String> {
        Some("write the destination as `AE_TITLE@host:port`, for example `PACS@10.1.2.3:104`".into())
    }
}

/// What a file to send is: read from its file meta group alone (the data set is read when its
/// turn comes, one file at a time, so a directory of thousands of instances is never held in
/// memory at once).
#[derive(Debug)]
struct Instance {
    sop_class_uid: String,
    sop_instance_uid: String,
    transfer_syntax: String,
}

/// The largest file sent: a Part-10 file's own lengths are 32-bit.
pub const MAX_SEND_BYTES: u64 = 4 << 30;

/// Opens `path` to send it: the last component never followed (a file swapped for a link
/// after it was listed is refused, not read through), non-blocking (a FIFO does not hang the
/// send), a regular file of at most [`MAX_SEND_BYTES`]; positioned after its file meta group.
fn open_instance(path: &Path) -> Result<(Instance, std::io::BufReader<std::fs::File>, u64), String> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot open it (links are not followed): {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    if meta.len() > MAX_SEND_BYTES {
        return Err(format!("it is {} bytes, more than a DICOM file can be", meta.len()));
    }
    let mut reader = std::io::BufReader::new(file);
    let mut preamble = [0u8; 128];
    reader
        .read_exact(&mut preamble)
        .map_err(|_| "it is not a DICOM Part-10 file (shorter than the preamble)".to_owned())?;
    let table = FileMetaTable::from_reader(&mut reader).map_err(|e| {
        format!(
            "it is not a DICOM Part-10 file (no `DICM` after the preamble, or its file meta group cannot be read: {e})"
        )
    })?;
    let t = |s: &str| trim(s).to_owned();
    let instance = Instance {
        sop_class_uid: t(table.media_storage_sop_class_uid()),
        sop_instance_uid: t(table.media_storage_sop_instance_uid()),
        transfer_syntax: t(table.transfer_syntax()),
    };
    Ok((instance, reader, meta.len()))
}

/// The data set bytes of the file at `path` (everything after its file meta group), checked to
/// be the instance it was when it was listed.
fn read_data_set(path: &Path, expected: &Instance) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let (now, reader, size) = open_instance(path)?;
    if now.sop_instance_uid != expected.sop_instance_uid || now.transfer_syntax != expected.transfer_syntax {
        return Err("it changed since it was listed (another instance or transfer syntax)".into());
    }
    let mut data_set = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    reader.take(MAX_SEND_BYTES).read_to_end(&mut data_set).map_err(|e| format!("cannot read it: {e}"))?;
    Ok(data_set)
}

/// The files under `paths` (files as they are, directories searched recursively, sorted, no
/// link followed), for [`send_files`].
pub fn collect_files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let t = e.file_type()?;
            if t.is_dir() {
                walk(&e.path(), out)?;
            } else if t.is_file() {
                out.push(e.path());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if std::fs::symlink_metadata(p)?.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// [`send_files`], each file's outcome recorded in the store (`dicom_sends`, linked to `run`
/// when they are a run's outputs).
pub fn send_recorded(
    store: &berth_store::Store,
    dest: &Destination,
    files: &[PathBuf],
    opts: &SendOptions,
    run: Option<&str>,
) -> Result<Vec<Sent>, berth_store::StoreError> {
    let sent = send_files(dest, files, opts);
    let destination = dest.to_string();
    for s in &sent {
        store.record_dicom_send(&berth_store::NewDicomSend {
            destination: &destination,
            calling_ae: &opts.calling_ae_title,
            path: &s.path.display().to_string(),
            sop_instance_uid: s.sop_instance_uid.as_deref(),
            status: s.status,
            ok: s.ok(),
            attempts: s.attempts,
            error: s.error.as_deref(),
            run_id: run,
        })?;
    }
    Ok(sent)
}

/// Whether `path` is a Part-10 DICOM file (`DICM` after the 128-byte preamble).
pub fn is_part10(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0_u8; 132];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok() && &head[128..] == b"DICM"
}

/// Whether a failure is worth another attempt: no answer (transport), or refused for resources.
fn retryable(sent: &Sent) -> bool {
    match sent.status {
        None => true,
        Some(s) => (0xA700..=0xA7FF).contains(&s),
    }
}

/// Sends `files` to `dest`, retrying as `opts` says; returns one [`Sent`] per file, in order.
pub fn send_files(dest: &Destination, files: &[PathBuf], opts: &SendOptions) -> Vec<Sent> {
    let mut results: Vec<Sent> = files
        .iter()
        .map(|p| Sent { path: p.clone(), sop_instance_uid: None, status: None, attempts: 0, error: None })
        .collect();
    let mut instances: Vec<Option<Instance>> = Vec::with_capacity(files.len());
    for (i, p) in files.iter().enumerate() {
        match open_instance(p) {
            Ok((inst, _, _)) => {
                results[i].sop_instance_uid = Some(inst.sop_instance_uid.clone());
                instances.push(Some(inst));
            }
            Err(e) => {
                results[i].error = Some(e);
                instances.push(None);
            }
        }
    }
    let mut delay = opts.retry_delay;
    for attempt in 1..=opts.attempts.max(1) {
        let todo: Vec<usize> = (0..files.len())
            .filter(|&i| {
                instances[i].is_some() && !results[i].ok() && (results[i].attempts == 0 || retryable(&results[i]))
            })
            .collect();
        if todo.is_empty() {
            break;
        }
        if attempt > 1 {
            std::thread::sleep(delay);
            delay = delay.saturating_mul(2);
        }
        // At most 128 presentation contexts per association (PS3.8 §9.3.2.2: odd ids 1–255).
        let mut pending = todo.as_slice();
        while !pending.is_empty() {
            let mut pairs: Vec<(String, String)> = Vec::new();
            let mut take = 0;
            for &i in pending {
                let inst = instances[i].as_ref().expect("filtered");
                let pair = (inst.sop_class_uid.clone(), inst.transfer_syntax.clone());
                if !pairs.contains(&pair) {
                    if pairs.len() == 128 {
                        break;
                    }
                    pairs.push(pair);
                }
                take += 1;
            }
            let (batch, rest) = pending.split_at(take);
            pending = rest;
            send_batch(dest, opts, &pairs, batch, files, &instances, &mut results);
        }
    }
    results
}

fn send_batch(
    dest: &Destination,
    opts: &SendOptions,
    pairs: &[(String, String)],
    batch: &[usize],
    files: &[PathBuf],
    instances: &[Option<Instance>],
    results: &mut [Sent],
) {
    for &i in batch {
        results[i].attempts += 1;
    }
    let mut options = ClientAssociationOptions::new()
        .calling_ae_title(opts.calling_ae_title.as_str())
        .called_ae_title(dest.ae_title.as_str())
        .max_pdu_length(opts.max_pdu)
        .read_timeout(opts.timeout)
        .write_timeout(opts.timeout)
        .connection_timeout(opts.timeout);
    for (class, ts) in pairs {
        options = options.with_presentation_context(class.as_str(), vec![ts.as_str()]);
    }
    let mut a = match options.establish((dest.host.as_str(), dest.port)) {
        Ok(a) => a,
        Err(e) => {
            for &i in batch {
                results[i].status = None;
                results[i].error = Some(format!("no association with {dest}: {e}"));
            }
            return;
        }
    };
    let mut message_id: u16 = 0;
    for (n, &i) in batch.iter().enumerate() {
        let inst = instances[i].as_ref().expect("filtered");
        let data_set = match read_data_set(&files[i], inst) {
            Ok(d) => d,
            Err(e) => {
                // Not sent (the association goes on with the next file); tried again next time.
                results[i].status = None;
                results[i].error = Some(e);
                continue;
            }
        };
        message_id = message_id.wrapping_add(1);
        match store_one(&mut a, inst, &data_set, message_id) {
            Ok(code) => {
                results[i].status = Some(code);
                results[i].error = (!results[i].ok()).then(|| format!("{dest} answered status {code:04X}H"));
            }
            Err(e) => {
                // The association is gone: this file and the rest of the batch are not sent.
                for &j in &batch[n..] {
                    results[j].status = None;
                    results[j].error = Some(e.clone());
                }
                let _ = a.abort();
                return;
            }
        }
    }
    let _ = a.release();
}

fn store_one(
    a: &mut ClientAssociation<TcpStream>,
    inst: &Instance,
    data_set: &[u8],
    message_id: u16,
) -> Result<u16, String> {
    let Some(pc) = a
        .presentation_contexts()
        .iter()
        .find(|pc| {
            pc.reason == PresentationContextResultReason::Acceptance
                && trim(&pc.abstract_syntax) == inst.sop_class_uid
                && trim(&pc.transfer_syntax) == inst.transfer_syntax
        })
        .map(|pc| pc.id)
    else {
        return Err(format!(
            "the destination accepted no presentation context for SOP class {} in transfer syntax {}",
            inst.sop_class_uid, inst.transfer_syntax
        ));
    };
    let command =
        dimse::store_request(message_id, &inst.sop_class_uid, &inst.sop_instance_uid).map_err(|e| e.to_string())?;
    a.send(&Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: pc,
            value_type: PDataValueType::Command,
            is_last: true,
            data: command,
        }],
    })
    .map_err(|e| format!("sending the command failed: {e}"))?;
    {
        let mut w = a.send_pdata(pc);
        w.write_all(data_set).map_err(|e| format!("sending the data set failed: {e}"))?;
        w.finish().map_err(|e| format!("sending the data set failed: {e}"))?;
    }
    let mut response = Vec::new();
    loop {
        match a.receive().map_err(|e| format!("no response: {e}"))? {
            Pdu::PData { data } => {
                for v in data {
                    if v.value_type == PDataValueType::Command {
                        response.extend_from_slice(&v.data);
                        if v.is_last {
                            let (_, code) = dimse::parse_response(&response).map_err(|e| e.to_string())?;
                            return Ok(code);
                        }
                    }
                }
            }
            Pdu::AbortRQ { .. } => return Err("the destination aborted the association".into()),
            other => return Err(format!("unexpected PDU: {}", other.short_description())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_to_send_is_read_by_its_meta_group_then_its_data_set_and_never_through_a_link() {
        let t = tempfile::tempdir().expect("tmp");
        let incoming = crate::storage::Instance {
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.4",
            sop_instance_uid: "1.2.3.4.5",
            transfer_syntax: "1.2.840.10008.1.2.1",
            calling_ae: "SCU",
        };
        let data = b"\x08\x00\x16\x00UI\x04\x001.2\x00";
        let mut bytes = crate::storage::InstanceStore::file_meta(&incoming).expect("meta");
        bytes.extend_from_slice(data);
        let file = t.path().join("a.dcm");
        std::fs::write(&file, &bytes).expect("write");
        let (inst, _, _) = open_instance(&file).expect("open");
        assert_eq!(
            (inst.sop_instance_uid.as_str(), inst.transfer_syntax.as_str()),
            ("1.2.3.4.5", "1.2.840.10008.1.2.1")
        );
        assert_eq!(read_data_set(&file, &inst).expect("data set"), data);
        // A link (to a file of the host, say) is refused, as is what is not Part-10.
        std::os::unix::fs::symlink(&file, t.path().join("link.dcm")).expect("link");
        assert!(open_instance(&t.path().join("link.dcm")).expect_err("link").contains("links are not followed"));
        std::fs::write(t.path().join("b.dcm"), b"not dicom").expect("write");
        assert!(open_instance(&t.path().join("b.dcm")).is_err());
        // A file replaced by another instance after it was listed is not sent as the first.
        let other = crate::storage::Instance { sop_instance_uid: "1.2.3.4.6", ..incoming };
        let mut bytes = crate::storage::InstanceStore::file_meta(&other).expect("meta");
        bytes.extend_from_slice(data);
        std::fs::write(&file, &bytes).expect("write");
        assert!(read_data_set(&file, &inst).expect_err("changed").contains("changed"));
    }

    #[test]
    fn destinations_parse() {
        let d = Destination::parse("PACS@10.1.2.3:104").expect("parse");
        assert_eq!((d.ae_title.as_str(), d.host.as_str(), d.port), ("PACS", "10.1.2.3", 104));
        assert_eq!(Destination::parse("X@[::1]:11112").expect("v6").host, "::1");
        for bad in ["PACS", "PACS@host", "@h:1", "PACS@:104", "PACS@h:0", "A\\B@h:1", "PACS@h:99999"] {
            assert!(Destination::parse(bad).is_err(), "{bad}");
        }
    }
}
