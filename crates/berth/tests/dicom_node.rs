//! `berth dicom listen` against real DICOM peers on loopback (issue 20): dcmtk's `echoscu`,
//! `storescu` and `dcmdump`, and pynetdicom (`tests/dicom/peer.py`, in its own venv under
//! `target/`). The data are public scanner files (heudiconv's Siemens series, pydicom's test
//! files, fetched once by `scripts/fetch-test-data.sh`).
//!
//! Needs dcmtk (installed with `apt-get` when the tests run as root, otherwise the tests fail
//! saying so), python3 with access to PyPI, and the test data. Nothing is skipped silently.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// dcmtk, installed when missing and allowed to (root), as scripts/podman.sh installs Podman.
fn dcmtk() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let have = |b: &str| Command::new("sh").args(["-c", &format!("command -v {b}")]).output().is_ok_and(|o| o.status.success());
        if ["storescu", "echoscu", "dcmdump", "storescp"].iter().all(|b| have(b)) {
            return;
        }
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        assert!(root, "these tests need dcmtk (storescu, echoscu, dcmdump): install it with `apt-get install dcmtk` or run them as root");
        let ok = Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "dcmtk"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "`apt-get install dcmtk` failed; these tests need dcmtk");
    });
}

fn data_set(name: &str) -> PathBuf {
    let out = berth_testkit::run_script("scripts/fetch-test-data.sh", &[name], &[])
        .unwrap_or_else(|e| panic!("these tests need the public test data `{name}`:\n{e}"));
    PathBuf::from(out.trim())
}

fn heudiconv() -> PathBuf {
    data_set("heudiconv").join("heudiconv/tests/data")
}

fn pydicom_files() -> PathBuf {
    data_set("pydicom").join("pydicom/data/test_files")
}

fn peer_script() -> PathBuf {
    berth_testkit::repo_root().join("crates/berth/tests/dicom/peer.py")
}

/// A berth home, configuration and project with a data root.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new(config: &str) -> Site {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("data")).expect("data root");
        std::fs::write(dir.path().join("config.toml"), config).expect("config");
        let site = Site { dir };
        let out = site.berth(&["project", "add", "p", "--data-root"]).arg(site.data()).output().expect("berth");
        assert!(out.status.success(), "project add: {}", String::from_utf8_lossy(&out.stderr));
        site
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn berth(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BERTH);
        c.args(args)
            .env("BERTH_HOME", self.dir.path().join("home"))
            .env("BERTH_CONFIG", self.dir.path().join("config.toml"))
            .env("BERTH_LOG", "berth_dicom=info")
            .env_remove("BERTH_ENGINE");
        c
    }

    fn start(&self) -> Node {
        let mut child = self
            .berth(&["dicom", "listen", "--project", "p", "--port", "0", "--ae-title", "BERTH"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("berth dicom listen");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on 127.0.0.1:").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").parse::<u16>().unwrap_or(0));
                }
                sink.lock().expect("log").push(line);
            }
        });
        let port = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("berth dicom listen did not start: {:?}", log.lock().expect("log"))
        });
        Node { child, port, log }
    }

    /// `berth dicom ls --json`.
    fn ls(&self) -> serde_json::Value {
        let out = self.berth(&["dicom", "ls", "--json"]).output().expect("ls");
        assert!(out.status.success(), "dicom ls: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("json")
    }

    /// Every file under the data root, relative.
    fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.data(), &self.data(), &mut out);
        out.sort();
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).expect("ls").map(|e| e.expect("entry")) {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            out.push(p.strip_prefix(root).expect("inside").display().to_string());
        }
    }
}

struct Node {
    child: Child,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Node {
    fn port(&self) -> String {
        self.port.to_string()
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The node's log has `line` within 10 s: it logs a rejection after answering it, so the peer
/// can be done before the line is written (seen failing once without the wait).
fn assert_logged(node: &Node, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !node.log().contains(line) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(node.log().contains(line), "no `{line}` in the node's log:\n{}", node.log());
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A Part-10 file's transfer syntax and data set bytes.
fn part10(bytes: &[u8]) -> (String, &[u8]) {
    assert_eq!(&bytes[128..132], b"DICM", "a Part-10 file");
    assert_eq!(&bytes[132..138], b"\x02\x00\x00\x00UL", "a file meta group length first");
    let len = u32::from_le_bytes(bytes[140..144].try_into().expect("4 bytes")) as usize;
    let end = 144 + len;
    let mut at = 144;
    let mut ts = String::new();
    while at < end {
        let tag = (u16::from_le_bytes([bytes[at], bytes[at + 1]]), u16::from_le_bytes([bytes[at + 2], bytes[at + 3]]));
        let vr = &bytes[at + 4..at + 6];
        let (value_at, n) = if [&b"OB"[..], b"OW", b"OF", b"SQ", b"UT", b"UN"].contains(&vr) {
            (at + 12, u32::from_le_bytes(bytes[at + 8..at + 12].try_into().expect("4")) as usize)
        } else {
            (at + 8, u16::from_le_bytes([bytes[at + 6], bytes[at + 7]]) as usize)
        };
        if tag == (2, 0x10) {
            ts = String::from_utf8_lossy(&bytes[value_at..value_at + n]).trim_end_matches(['\0', ' ']).to_owned();
        }
        at = value_at + n;
    }
    (ts, &bytes[end..])
}

/// Study, Series and SOP Instance UIDs of a file, as dcmdump (the oracle) reads them.
fn uids(file: &Path) -> (String, String, String) {
    let out = run(Command::new("dcmdump").args(["+P", "0020,000d", "+P", "0020,000e", "+P", "0008,0018"]).arg(file));
    assert!(out.status.success(), "dcmdump {}: {}", file.display(), text(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    let value = |tag: &str| {
        s.lines()
            .find(|l| l.starts_with(tag))
            .and_then(|l| l.split('[').nth(1))
            .and_then(|v| v.split(']').next())
            .unwrap_or_else(|| panic!("{tag} in {}: {s}", file.display()))
            .to_owned()
    };
    (value("(0020,000d)"), value("(0020,000e)"), value("(0008,0018)"))
}

/// Where berth must have written `file`.
fn expected_path(file: &Path) -> String {
    let (study, series, sop) = uids(file);
    format!("{study}/{series}/{sop}.dcm")
}

/// Asserts that each received file is a valid DICOM file (dcmdump reads it whole) holding the
/// data set of its original in the original's transfer syntax: byte for byte when the sender
/// sent the file's bytes, else (dcmtk re-encodes undefined-length sequences with explicit
/// lengths on the wire) element for element, by pydicom (`peer.py same`). Returns how many
/// were byte-identical.
fn assert_same_instances(pairs: &[(PathBuf, PathBuf)]) -> usize {
    let mut identical = 0;
    let mut args: Vec<String> = vec!["same".into()];
    for (original, received) in pairs {
        let a = std::fs::read(original).expect("original");
        let b = std::fs::read(received).unwrap_or_else(|e| panic!("{} was not received: {e}", received.display()));
        let (ts_a, ds_a) = part10(&a);
        let (ts_b, ds_b) = part10(&b);
        assert_eq!(ts_a, ts_b, "{}: stored in the transfer syntax it was sent in", original.display());
        if ds_a == ds_b {
            identical += 1;
        }
        let out = run(Command::new("dcmdump").args(["-q", "+E"]).arg(received));
        assert!(out.status.success(), "dcmdump cannot read {}: {}", received.display(), text(&out));
        args.push(original.display().to_string());
        args.push(received.display().to_string());
    }
    let out = run(Command::new("python3").arg(peer_script()).args(&args));
    assert!(out.status.success(), "pydicom finds the received data sets differ:\n{}", text(&out));
    identical
}

/// storescu's option that proposes `ts` first (storescu converts a data set to the syntax
/// accepted; proposing the file's own keeps it as it is stored).
fn propose(ts: &str) -> &'static str {
    match ts {
        "1.2.840.10008.1.2" => "-xi",
        "1.2.840.10008.1.2.1" => "-xe",
        "1.2.840.10008.1.2.2" => "-xb",
        "1.2.840.10008.1.2.4.50" => "-xy",
        "1.2.840.10008.1.2.4.51" => "-xx",
        "1.2.840.10008.1.2.4.70" => "-xs",
        "1.2.840.10008.1.2.4.90" => "-xv",
        "1.2.840.10008.1.2.4.91" => "-xw",
        "1.2.840.10008.1.2.5" => "-xr",
        other => panic!("no storescu option for {other}"),
    }
}

/// `storescu` sends `files`, one association per transfer syntax (each proposing its own).
fn storescu(node: &Node, files: &[PathBuf]) {
    let mut groups = BTreeMap::<String, Vec<&PathBuf>>::new();
    for f in files {
        groups.entry(part10(&std::fs::read(f).expect("read")).0).or_default().push(f);
    }
    for (ts, group) in groups {
        let out = run(Command::new("storescu")
            .args([propose(&ts), "-aet", "STORESCU", "-aec", "BERTH", "127.0.0.1", &node.port()])
            .args(group));
        assert!(out.status.success(), "storescu ({ts}): {}\n{}", text(&out), node.log());
    }
}

fn echoscu(node: &Node, calling: &str, called: &str) -> Output {
    run(Command::new("echoscu").args(["-aet", calling, "-aec", called, "127.0.0.1", &node.port()]))
}

/// The multi-series study and single files sent in the tests: heudiconv's Siemens MR series
/// (a three-instance DWI series, a field map, a scout, a phantom, two more MR files) and
/// pydicom's CT, RT, SR and compressed files (JPEG 2000, JPEG lossy, RLE), in several transfer
/// syntaxes (explicit little, implicit, big endian).
fn sample_files() -> Vec<PathBuf> {
    let h = heudiconv();
    let p = pydicom_files();
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(h.join("b0dwiForFmap")).expect("ls").map(|e| e.expect("e").path()).collect();
    files.sort();
    files.extend([
        h.join("01-fmap_acq-3mm/1.3.12.2.1107.5.2.43.66112.2016101409263663466202201.dcm"),
        h.join("01-anat-scout/0001.dcm"),
        h.join("phantom.dcm"),
        h.join("axasc35.dcm"),
        p.join("CT_small.dcm"),
        p.join("MR_small_implicit.dcm"),
        p.join("JPEG2000.dcm"),
        p.join("JPEG-lossy.dcm"),
        p.join("SC_rgb_rle.dcm"),
        p.join("rtplan.dcm"),
        p.join("test-SR.dcm"),
        p.join("ExplVR_BigEnd.dcm"),
    ]);
    files
}

#[test]
fn dicom_node_with_dcmtk_storescu_echoscu_and_dcmdump() {
    dcmtk();
    let site = Site::new("");
    let node = site.start();
    let echo = echoscu(&node, "ECHOSCU", "BERTH");
    assert!(echo.status.success(), "echoscu: {}\n{}", text(&echo), node.log());

    let files = sample_files();
    storescu(&node, &files);
    let mut studies = BTreeMap::<String, usize>::new();
    let mut pairs = Vec::new();
    for f in &files {
        let rel = expected_path(f);
        pairs.push((f.clone(), site.data().join(&rel)));
        *studies.entry(rel.split('/').next().expect("study").to_owned()).or_default() += 1;
    }
    let identical = assert_same_instances(&pairs);
    eprintln!("{identical} of {} data sets byte-identical to the files sent", pairs.len());
    assert!(identical >= files.len() / 2, "most files have no sequence dcmtk re-encodes");
    let on_disk = site.files();
    assert_eq!(on_disk.len(), files.len(), "exactly the instances sent, nothing else: {on_disk:?}");
    assert!(on_disk.iter().all(|f| f.ends_with(".dcm")));

    // `berth dicom ls` counts each study and series as they arrived.
    let ls = site.ls();
    let listed: BTreeMap<String, usize> = ls
        .as_array()
        .expect("studies")
        .iter()
        .map(|s| (s["study_uid"].as_str().expect("uid").to_owned(), s["instances"].as_u64().expect("n") as usize))
        .collect();
    assert_eq!(listed, studies);
    let dwi = ls
        .as_array()
        .expect("studies")
        .iter()
        .find(|s| s["series"].as_array().is_some_and(|v| v.iter().any(|x| x["instances"] == 3)));
    assert!(dwi.is_some(), "the three-instance DWI series is one series: {ls:#}");
    let series = &dwi.expect("dwi")["series"]
        .as_array()
        .expect("series")
        .iter()
        .find(|x| x["instances"] == 3)
        .cloned()
        .expect("three");
    assert_eq!(series["modality"], "MR");
    assert_eq!(series["calling_ae"], "STORESCU");

    // The same files again: identical bytes are acknowledged and nothing changes.
    storescu(&node, &files[..3]);
    assert_eq!(site.files(), on_disk);
}

#[test]
fn dicom_node_with_pynetdicom_duplicates_and_allow_list() {
    dcmtk();
    let site = Site::new(
        "[dicom.projects.p]\ncalling_ae_titles = [\"PYNETDICOM\", \"ECHOSCU\"]\nsources = [\"127.0.0.0/8\"]\n",
    );
    let node = site.start();
    let p = pydicom_files();
    let peer = |args: &[&str]| -> Vec<serde_json::Value> {
        let out = run(Command::new("python3").arg(peer_script()).args(args));
        assert!(out.status.success(), "peer.py {args:?}: {}\n{}", text(&out), node.log());
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("json line")).collect()
    };
    let port = node.port();
    let send = |calling: &str, files: &[PathBuf]| {
        let mut args = vec!["send", "127.0.0.1", &port, calling, "BERTH"];
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        args.extend(names.iter().map(String::as_str));
        peer(&args).into_iter().map(|v| v["status"].as_u64()).collect::<Vec<_>>()
    };

    // pynetdicom's C-ECHO and C-STORE.
    assert_eq!(peer(&["echo", "127.0.0.1", &port, "PYNETDICOM", "BERTH"])[0]["status"], 0);
    let files = [p.join("MR_small.dcm"), p.join("CT_small.dcm"), p.join("MR_small_RLE.dcm").clone()];
    // MR_small_RLE has MR_small's SOP Instance UID with other bytes: a duplicate.
    assert_eq!(send("PYNETDICOM", &files), vec![Some(0), Some(0), Some(0x0111)]);
    let pairs: Vec<_> = files[..2].iter().map(|f| (f.clone(), site.data().join(expected_path(f)))).collect();
    assert_same_instances(&pairs);
    // The same bytes again are acknowledged (default rule `reject-different`).
    assert_eq!(send("PYNETDICOM", &files[..1]), vec![Some(0)]);
    assert_eq!(site.files().len(), 2);

    // Not on the allow-list: A-ASSOCIATE-RJ, permanent (1), by the service user (1), with the
    // reason: calling AE title not recognised (3), called AE title not recognised (7).
    let rj = &peer(&["echo", "127.0.0.1", &port, "INTRUDER", "BERTH"])[0];
    assert_eq!(
        (rj["rejected"].as_bool(), rj["result"].as_u64(), rj["source"].as_u64(), rj["reason"].as_u64()),
        (Some(true), Some(1), Some(1), Some(3)),
        "{rj}"
    );
    let rj = &peer(&["echo", "127.0.0.1", &port, "PYNETDICOM", "OTHER"])[0];
    assert_eq!(rj["reason"].as_u64(), Some(7), "{rj}");
    let out = echoscu(&node, "NOTLISTED", "BERTH");
    assert!(!out.status.success(), "echoscu from a title not allowed must fail: {}", text(&out));
    assert!(echoscu(&node, "ECHOSCU", "BERTH").status.success());
    assert_logged(&node, "rejected: calling AE title not allowed");
}

#[test]
fn dicom_node_source_addresses_not_allowed_are_rejected() {
    dcmtk();
    let site = Site::new("[dicom.projects.p]\nsources = [\"10.0.0.0/8\"]\n");
    let node = site.start();
    let out = echoscu(&node, "ECHOSCU", "BERTH");
    assert!(!out.status.success(), "loopback is not in 10.0.0.0/8: {}", text(&out));
    assert!(text(&out).contains("Association Rejected"), "{}", text(&out));
    assert_logged(&node, "source address not allowed");
}

/// Raw bytes to the listener: garbage, a PDU claiming 4 GiB, a truncated A-ASSOCIATE-RQ, and
/// a P-DATA PDU before any association. The listener must answer the next peer as before.
#[test]
fn dicom_node_survives_malformed_pdus() {
    dcmtk();
    let site = Site::new("");
    let node = site.start();
    let garbage: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        vec![0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x01],
        [&[0x01, 0x00, 0x00, 0x00, 0x00, 0x44, 0x00, 0x01, 0x00, 0x00][..], b"BERTH"].concat(),
        vec![0x04, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x02, 0x01, 0x03],
        (0..=255).collect(),
    ];
    for g in &garbage {
        let mut s = TcpStream::connect(("127.0.0.1", node.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        s.write_all(g).expect("write");
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
    let echo = echoscu(&node, "ECHOSCU", "BERTH");
    assert!(echo.status.success(), "after malformed PDUs: {}\n{}", text(&echo), node.log());
    assert!(site.files().is_empty());
}

/// `peer.py generate`: `count` distinct instances of a Siemens DWI file over `series` series.
fn generate(dir: &Path, count: usize, series: usize) -> Vec<PathBuf> {
    let template = heudiconv().join("b0dwiForFmap/b0dwi_for_fmap+00001.dcm");
    let out = run(Command::new("python3")
        .arg(peer_script())
        .arg("generate")
        .arg(&template)
        .arg(dir)
        .args([count.to_string(), series.to_string()]));
    assert!(out.status.success(), "peer.py generate: {}", text(&out));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).expect("ls").map(|e| e.expect("e").path()).collect();
    files.sort();
    files
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn no_partial_files(site: &Site) {
    for f in site.files() {
        assert!(f.ends_with(".dcm") && !f.contains(".berth-part-"), "a partial file is visible: {f}");
    }
}

/// The sender is killed (SIGKILL) in the middle of a series: what was acknowledged is whole,
/// nothing partial is visible, and the node serves the next sender.
#[test]
fn dicom_node_sender_killed_mid_series() {
    dcmtk();
    let site = Site::new("");
    let node = site.start();
    let src = tempfile::tempdir().expect("tmp");
    let files = generate(src.path(), 60, 2);
    let mut scu = Command::new("storescu")
        .args(["-xi", "-aet", "STORESCU", "-aec", "BERTH", "127.0.0.1", &node.port()])
        .args(&files)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("storescu");
    wait_for("five instances", Duration::from_secs(60), || site.files().len() >= 5);
    scu.kill().expect("kill storescu");
    let _ = scu.wait();
    let received = site.files().len();
    assert!(received < files.len(), "storescu was killed before the end ({received} of {})", files.len());
    let echo = echoscu(&node, "ECHOSCU", "BERTH");
    assert!(echo.status.success(), "the node serves the next peer: {}", text(&echo));
    no_partial_files(&site);
    let by_sop: BTreeMap<String, PathBuf> = files.iter().map(|f| (uids(f).2, f.clone())).collect();
    let pairs: Vec<_> = site
        .files()
        .iter()
        .map(|f| {
            let sop = f.rsplit('/').next().expect("name").trim_end_matches(".dcm");
            (by_sop.get(sop).expect("an instance that was sent").clone(), site.data().join(f))
        })
        .collect();
    assert_same_instances(&pairs);
    let recorded: u64 =
        site.ls().as_array().expect("studies").iter().map(|s| s["instances"].as_u64().expect("n")).sum();
    assert_eq!(recorded as usize, site.files().len(), "every file on disk is recorded, and only those");
}

/// berth is killed (SIGKILL) while storescu sends; every instance storescu saw acknowledged
/// is on disk, whole, after a restart, and the restart removes what was half-written.
#[test]
fn dicom_node_killed_while_receiving_keeps_every_acknowledged_instance() {
    killed_while_receiving("");
}

/// The same with `sync = "never"`: without `fsync`, an acknowledged instance was renamed into
/// place before Success, so it survives berth being killed (the page cache is the kernel's).
#[test]
fn dicom_node_without_fsync_killed_while_receiving_keeps_every_acknowledged_instance() {
    killed_while_receiving("[dicom]\nsync = \"never\"\n");
}

fn killed_while_receiving(config: &str) {
    dcmtk();
    let site = Site::new(config);
    let mut node = site.start();
    let src = tempfile::tempdir().expect("tmp");
    let files = generate(src.path(), 80, 3);
    let scu = Command::new("storescu")
        .args(["-v", "-xi", "-aet", "STORESCU", "-aec", "BERTH", "127.0.0.1", &node.port()])
        .args(&files)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("storescu");
    wait_for("ten instances", Duration::from_secs(60), || site.files().len() >= 10);
    node.kill();
    let out = scu.wait_with_output().expect("storescu");
    let log = text(&out);
    // storescu -v: "Sending file: F" ... "Received Store Response (Success)".
    let mut acknowledged = Vec::new();
    let mut current: Option<String> = None;
    for line in log.lines() {
        if let Some(f) = line.split("Sending file: ").nth(1) {
            current = Some(f.trim().to_owned());
        } else if line.contains("Received Store Response (Success)") {
            acknowledged.push(current.take().expect("a response to a file"));
        }
    }
    assert!(acknowledged.len() >= 9, "storescu saw instances acknowledged before the kill:\n{log}");
    assert!(acknowledged.len() < files.len(), "berth was killed before the end:\n{log}");
    let node = site.start();
    no_partial_files(&site);
    let pairs: Vec<_> =
        acknowledged.iter().map(|f| (PathBuf::from(f), site.data().join(expected_path(Path::new(f))))).collect();
    assert_same_instances(&pairs);
    // The sender sends everything again after the restart: all arrive, none twice.
    storescu(&node, &files);
    assert_eq!(site.files().len(), files.len());
    let recorded: u64 =
        site.ls().as_array().expect("studies").iter().map(|s| s["instances"].as_u64().expect("n")).sum();
    assert_eq!(recorded as usize, files.len(), "each instance recorded once");
}

/// A tmpfs of `size` mounted on `dir` until dropped (needs root, as the engines' tests do).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        assert!(root, "the disk-full test mounts a small tmpfs as the data root and needs root");
        let out = run(Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(dir));
        assert!(out.status.success(), "mount tmpfs: {}", text(&out));
        Tmpfs(dir.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A data root with no room: the instance that does not fit is answered A700H (out of
/// resources), nothing of it stays, the next one that fits is stored, and the node keeps
/// serving.
#[test]
fn dicom_node_disk_full_data_root() {
    dcmtk();
    let site = Site::new("");
    let _tmpfs = Tmpfs::mount(&site.data(), "2m");
    let node = site.start();
    let big = heudiconv().join("b0dwiForFmap/b0dwi_for_fmap+00001.dcm");
    let small = pydicom_files().join("CT_small.dcm");
    let port = node.port();
    let out = run(Command::new("python3")
        .arg(peer_script())
        .args(["send", "127.0.0.1", &port, "PYNETDICOM", "BERTH"])
        .arg(&big)
        .arg(&small));
    assert!(out.status.success(), "peer.py send: {}\n{}", text(&out), node.log());
    let statuses: Vec<Option<u64>> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json")["status"].as_u64())
        .collect();
    assert_eq!(statuses, vec![Some(0xA700), Some(0)], "{}", node.log());
    no_partial_files(&site);
    assert_eq!(site.files(), vec![expected_path(&small)]);
    assert!(echoscu(&node, "ECHOSCU", "BERTH").status.success());
}

/// The sender vanishes in the middle of an instance (pynetdicom, exiting after 20 of its
/// data set's PDUs): the data set was streamed to a temporary file as it came — it is on disk,
/// growing, while the sender pauses — and when the connection drops that file is removed:
/// nothing of the instance is visible under the data root or recorded, and the node serves the
/// next sender.
#[test]
fn dicom_node_sender_gone_mid_instance_leaves_nothing() {
    dcmtk();
    let site = Site::new("");
    let node = site.start();
    let big = heudiconv().join("b0dwiForFmap/b0dwi_for_fmap+00001.dcm");
    let peer = Command::new("python3")
        .arg(peer_script())
        .args(["send-half", "127.0.0.1", &node.port(), "PYNETDICOM", "BERTH"])
        .arg(&big)
        .args(["20", "4"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("peer.py send-half");
    let incoming = site.data().join(".berth-incoming");
    let partial = || -> u64 {
        std::fs::read_dir(&incoming)
            .map(|d| d.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
            .unwrap_or(0)
    };
    // 20 PDUs of up to 64 KiB of a 3.9 MB data set: more than 100 kB is on disk, not all.
    wait_for("the partial instance in its temporary file", Duration::from_secs(300), || partial() > 100_000);
    assert!(partial() < std::fs::metadata(&big).expect("size").len(), "only part of it arrived");
    assert!(site.files().iter().all(|f| f.starts_with(".berth-incoming/.berth-part-")), "{:?}", site.files());
    let out = peer.wait_with_output().expect("peer");
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"paused\": 20"), "{}", text(&out));
    wait_for("the association's end", Duration::from_secs(30), || {
        node.log().contains("aborted: the peer stopped mid-instance")
    });
    assert_eq!(site.files(), Vec::<String>::new(), "nothing of the instance is left\n{}", node.log());
    assert_eq!(site.ls(), serde_json::json!([]), "nothing is recorded");
    assert!(echoscu(&node, "ECHOSCU", "BERTH").status.success());
}

/// `max_instance_bytes`: a larger instance is answered A700H (out of resources) as soon as its
/// data set passes the limit, nothing of it stays, and the next instance on the same
/// association is stored.
#[test]
fn dicom_node_instance_size_limit() {
    dcmtk();
    let site = Site::new("[dicom]\nmax_instance_bytes = \"1m\"\n");
    let node = site.start();
    let big = heudiconv().join("b0dwiForFmap/b0dwi_for_fmap+00001.dcm");
    let small = pydicom_files().join("CT_small.dcm");
    let out = run(Command::new("python3")
        .arg(peer_script())
        .args(["send", "127.0.0.1", &node.port(), "PYNETDICOM", "BERTH"])
        .arg(&big)
        .arg(&small));
    assert!(out.status.success(), "peer.py send: {}\n{}", text(&out), node.log());
    let statuses: Vec<Option<u64>> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json")["status"].as_u64())
        .collect();
    assert_eq!(statuses, vec![Some(0xA700), Some(0)], "{}", node.log());
    assert_logged(&node, "is larger than 1048576 bytes");
    assert_eq!(site.files(), vec![expected_path(&small)]);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// `berth dicom send` to dcmtk's `storescp`, started only after berth's first attempt failed:
/// berth retries, every file arrives in its own transfer syntax (compressed ones too), equal
/// to what was sent, and the send is in the audit trail.
#[test]
fn dicom_send_to_dcmtk_storescp_with_retries() {
    dcmtk();
    let site = Site::new("");
    let h = heudiconv();
    let p = pydicom_files();
    let files = [
        h.join("01-anat-scout/0001.dcm"),
        h.join("phantom.dcm"),
        p.join("JPEG2000.dcm"),
        p.join("MR_small_RLE.dcm"),
        p.join("CT_small.dcm"),
    ];
    let port = free_port();
    let to = format!("STORESCP@127.0.0.1:{port}");
    let sender = site
        .berth(&["dicom", "send", "--to", &to, "--retry-delay", "1", "--attempts", "6", "--json"])
        .args(&files)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("berth dicom send");
    std::thread::sleep(Duration::from_millis(1500));
    let received = tempfile::tempdir().expect("tmp");
    let mut scp = Command::new("storescp")
        .args(["-aet", "STORESCP", "+xa", "-od"])
        .arg(received.path())
        .arg(port.to_string())
        .spawn()
        .expect("storescp");
    let out = sender.wait_with_output().expect("send");
    let _ = scp.kill();
    let _ = scp.wait();
    assert!(out.status.success(), "berth dicom send: {}", text(&out));
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let sent = sent.as_array().expect("list");
    assert_eq!(sent.len(), files.len());
    assert!(sent.iter().all(|s| s["status"] == 0), "{sent:?}");
    assert!(sent.iter().all(|s| s["attempts"].as_u64() >= Some(2)), "the first attempt found no listener: {sent:?}");
    let by_sop: BTreeMap<String, PathBuf> = std::fs::read_dir(received.path())
        .expect("ls")
        .map(|e| e.expect("e").path())
        .map(|f| (uids(&f).2, f))
        .collect();
    let pairs: Vec<_> =
        files.iter().map(|f| (f.clone(), by_sop.get(&uids(f).2).expect("received by storescp").clone())).collect();
    assert_same_instances(&pairs);
    let audit = run(&mut site.berth(&["audit", "ls", "--json"]));
    assert!(String::from_utf8_lossy(&audit.stdout).contains(&format!("dicom:{to}")), "{}", text(&audit));
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = run(Command::new("openssl").args(args).current_dir(dir));
    assert!(out.status.success(), "openssl {args:?} (openssl is needed for the TLS test): {}", text(&out));
}

/// DICOM TLS: the node's certificate, and a client CA for mutual authentication. dcmtk's
/// echoscu and storescu over TLS (checking berth's certificate) get through with a client
/// certificate the CA signed; without one, or without TLS, they are refused.
#[test]
fn dicom_node_tls_with_dcmtk() {
    dcmtk();
    let keys = tempfile::tempdir().expect("tmp");
    let k = keys.path();
    let subj = |cn: &str| format!("/CN={cn}");
    openssl(
        k,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "node.key",
            "-out",
            "node.crt",
            "-days",
            "2",
            "-subj",
            &subj("localhost"),
        ],
    );
    openssl(
        k,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            &subj("modalities CA"),
        ],
    );
    openssl(
        k,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "scanner.key",
            "-out",
            "scanner.csr",
            "-subj",
            &subj("scanner"),
        ],
    );
    std::fs::write(
        k.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    )
    .expect("ext");
    openssl(
        k,
        &[
            "x509",
            "-req",
            "-in",
            "scanner.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "scanner.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    let p = |name: &str| k.join(name).display().to_string();
    let site = Site::new(&format!(
        "[dicom]\ntls_certificate = \"{}\"\ntls_key = \"{}\"\ntls_client_ca = \"{}\"\n",
        p("node.crt"),
        p("node.key"),
        p("ca.crt")
    ));
    let node = site.start();
    let port = node.port();
    let tls_client = ["+tls", &p("scanner.key"), &p("scanner.crt"), "+cf", &p("node.crt")];
    let echo = run(Command::new("echoscu").args(tls_client).args(["-aec", "BERTH", "127.0.0.1", &port]));
    assert!(echo.status.success(), "echoscu over TLS: {}\n{}", text(&echo), node.log());
    let file = pydicom_files().join("CT_small.dcm");
    let store =
        run(Command::new("storescu").args(tls_client).args(["-xe", "-aec", "BERTH", "127.0.0.1", &port]).arg(&file));
    assert!(store.status.success(), "storescu over TLS: {}\n{}", text(&store), node.log());
    assert_same_instances(&[(file.clone(), site.data().join(expected_path(&file)))]);
    // No client certificate, and no TLS at all: refused.
    let anonymous =
        run(Command::new("echoscu").args(["+tla", "+cf", &p("node.crt"), "-aec", "BERTH", "127.0.0.1", &port]));
    assert!(!anonymous.status.success(), "a sender without a client certificate: {}", text(&anonymous));
    let plain = echoscu(&node, "ECHOSCU", "BERTH");
    assert!(!plain.status.success(), "a sender without TLS: {}", text(&plain));
    assert!(echoscu_tls_ok(&tls_client, &port), "the node still serves TLS senders");
}

fn echoscu_tls_ok(tls_client: &[&str], port: &str) -> bool {
    run(Command::new("echoscu").args(tls_client).args(["-aec", "BERTH", "127.0.0.1", port])).status.success()
}

/// Counts the `.dcm` files of its input directory (busybox).
const DCM_COUNT: &str = r#"{
    "name": "dcm-count", "tool-version": "1", "schema-version": "0.5",
    "description": "Counts the .dcm files of a directory.",
    "command-line": "ls [INPUT] | grep -c '[.]dcm$' > count.txt",
    "container-image": {"type": "docker", "image": "berth-test/busybox:latest"},
    "inputs": [{"id": "input", "name": "Input", "type": "File", "value-key": "[INPUT]"}],
    "output-files": [{"id": "count", "name": "Count", "path-template": "count.txt"}]
}"#;

/// Copies the `.dcm` files of its input directory to its outputs (busybox).
const DCM_COPY: &str = r#"{
    "name": "dcm-copy", "tool-version": "1", "schema-version": "0.5",
    "description": "Copies the .dcm files of a directory.",
    "command-line": "cp [INPUT]/*.dcm .",
    "container-image": {"type": "docker", "image": "berth-test/busybox:latest"},
    "inputs": [{"id": "input", "name": "Input", "type": "File", "value-key": "[INPUT]"}]
}"#;

/// `berth serve` with `[dicom] serve = true` and rules, on a private Docker engine: users
/// `admin` and `dicom` (the rules' user, a member of project `p`), tools `dcm-count` and
/// `dcm-copy` enabled.
struct Served {
    dir: tempfile::TempDir,
    host: String,
    http: u16,
    dicom: u16,
    admin: String,
    server: Option<Child>,
    starts: usize,
}

/// reqwest is built without a default TLS provider (berth picks ring); plain HTTP here.
fn http_client() -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().expect("client")
}

impl Served {
    fn new(rules: &str) -> Served {
        Served::with_pipelines(rules, &[])
    }

    /// With pipeline files `(name, YAML)` in `<dir>/pipes`, the server's pipeline directory.
    fn with_pipelines(rules: &str, pipelines: &[(&str, &str)]) -> Served {
        let host = berth_testkit::docker_host();
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("data")).expect("data root");
        std::fs::write(dir.path().join("dcm-count.json"), DCM_COUNT).expect("tool");
        std::fs::write(dir.path().join("dcm-copy.json"), DCM_COPY).expect("tool");
        let pipes = dir.path().join("pipes");
        std::fs::create_dir_all(&pipes).expect("pipes");
        for (name, yaml) in pipelines {
            std::fs::write(pipes.join(name), yaml).expect("pipeline");
        }
        let (http, dicom) = (free_port(), free_port());
        std::fs::write(
            dir.path().join("config.toml"),
            format!(
                "[serve]\npipeline_dirs = [\"{}\"]\n[dicom]\nserve = true\nproject = \"p\"\nport = {dicom}\nae_title = \"BERTH\"\n{rules}",
                pipes.display()
            ),
        )
        .expect("config");
        let mut s = Served { dir, host, http, dicom, admin: String::new(), server: None, starts: 0 };
        s.ok(&["user", "add", "admin", "--role", "admin"]);
        s.ok(&["user", "add", "dicom"]);
        s.ok(&["user", "add", "outsider"]);
        s.admin = s.ok(&["user", "token", "admin"]).trim().to_owned();
        let data = s.data().to_string_lossy().into_owned();
        s.ok(&["project", "add", "p", "--data-root", &data, "--member", "dicom"]);
        for tool in ["dcm-count", "dcm-copy"] {
            s.ok(&["tool", "add", &s.dir.path().join(format!("{tool}.json")).to_string_lossy()]);
            s.ok(&["project", "enable", "p", tool]);
        }
        s.start();
        s
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = berth_testkit::berth_command(BERTH, self.dir.path(), &self.host);
        c.args(args).env("BERTH_LOG", "berth_dicom=info,berth_server=info");
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = run(&mut self.cmd(args));
        assert!(out.status.success(), "berth {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn log(&self) -> String {
        (0..self.starts)
            .map(|n| std::fs::read_to_string(self.dir.path().join(format!("server-{n}.log"))).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n---\n")
    }

    fn start(&mut self) {
        let log = std::fs::File::create(self.dir.path().join(format!("server-{}.log", self.starts))).expect("log");
        self.starts += 1;
        let child = self
            .cmd(&["serve", "--bind", &format!("127.0.0.1:{}", self.http), "--workers", "2"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("berth serve");
        self.server = Some(child);
        wait_for("berth serve and its DICOM node", Duration::from_secs(60), || {
            let http = http_client()
                .get(format!("http://127.0.0.1:{}/api/v1/health", self.http))
                .send()
                .is_ok_and(|r| r.status().is_success());
            http && TcpStream::connect(("127.0.0.1", self.dicom)).is_ok()
        });
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.server.take() {
            // SIGTERM: the server stops its listener and rule engine.
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline && c.try_wait().ok().flatten().is_none() {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn runs(&self) -> Vec<serde_json::Value> {
        let r = http_client()
            .get(format!("http://127.0.0.1:{}/api/v1/runs?project=p&limit=100", self.http))
            .bearer_auth(&self.admin)
            .send()
            .expect("runs");
        assert!(r.status().is_success(), "GET /api/v1/runs: {}", r.status());
        r.json::<serde_json::Value>().expect("json")["items"].as_array().expect("items").clone()
    }

    /// Rows of a query on the store, as JSON arrays.
    fn sql(&self, query: &str) -> Vec<serde_json::Value> {
        let db = self.dir.path().join("home/berth.db");
        let out = run(Command::new("python3")
            .arg("-c")
            .arg("import sqlite3, sys, json\nprint(json.dumps([list(r) for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])]))")
            .arg(db)
            .arg(query));
        assert!(out.status.success(), "reading the store: {}", text(&out));
        serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).expect("json")
    }

    /// (launch id, the directory its `input` was bound to) from the store's queue.
    fn launch_inputs(&self) -> BTreeMap<String, String> {
        let db = self.dir.path().join("home/berth.db");
        let out = run(Command::new("python3").arg("-c").arg(
            "import sqlite3, sys, json\n\
             c = sqlite3.connect(sys.argv[1])\n\
             print(json.dumps({i: json.loads(j)['inputs']['input'] for i, j in c.execute('SELECT id, invocation_json FROM launches')}))",
        ).arg(db));
        assert!(out.status.success(), "reading the launches: {}", text(&out));
        serde_json::from_slice(&out.stdout).expect("json")
    }

    /// GET `path` with `token`: the status and the body.
    fn get(&self, token: &str, path: &str) -> (u16, String) {
        let r =
            http_client().get(format!("http://127.0.0.1:{}{path}", self.http)).bearer_auth(token).send().expect("get");
        (r.status().as_u16(), r.text().unwrap_or_default())
    }

    /// A web UI page, signed in with `token` (the sign-in form, then the session cookie).
    fn page(&self, token: &str, path: &str) -> (u16, String) {
        let base = format!("http://127.0.0.1:{}", self.http);
        let client =
            reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let login = client
            .post(format!("{base}/login"))
            .header("Origin", &base)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
            .expect("sign in");
        let cookie = login
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
            .collect::<Vec<_>>()
            .join("; ");
        assert!(!cookie.is_empty(), "signing in gave no session cookie: {}", login.status());
        let r = client.get(format!("{base}{path}")).header("Cookie", cookie).send().expect("page");
        (r.status().as_u16(), r.text().unwrap_or_default())
    }

    fn send(&self, files: &[&PathBuf]) {
        self.send_as("SCANNER", files);
    }

    fn send_as(&self, calling_ae: &str, files: &[&PathBuf]) {
        let out = run(Command::new("storescu")
            .args(["-aet", calling_ae, "-aec", "BERTH", "127.0.0.1", &self.dicom.to_string()])
            .args(files));
        assert!(out.status.success(), "storescu: {}\n{}", text(&out), self.log());
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `[[dicom.rules]]` in `berth serve` with Docker: a study of three series sent by dcmtk's
/// storescu; each series is launched once, after its quiet time and not before, a series
/// still arriving is not launched; each launch's input is its series' directory, made and
/// audited as the rule's user, and its run counts the series' files; a rule for CT does not
/// fire on MR; a restarted server launches nothing again.
#[test]
fn dicom_rules_in_serve_launch_once_per_complete_series_with_docker() {
    dcmtk();
    let rule = |name: &str, modality: &str| {
        format!(
            "[[dicom.rules]]\nname = \"{name}\"\nproject = \"p\"\non = \"series-complete\"\nquiet = \"5s\"\n\
             modality = [\"{modality}\"]\ncalling_ae = [\"SCANNER\"]\ntool = \"dcm-count\"\ninput = \"input\"\nas_user = \"dicom\"\n"
        )
    };
    let mut served = Served::new(&format!("{}{}", rule("count-mr", "MR"), rule("count-ct", "CT")));
    let src = tempfile::tempdir().expect("tmp");
    // Heudiconv's Siemens DWI file (MR), as 12 instances over 3 series of one study.
    let files = generate(src.path(), 12, 3);
    let mut by_series = BTreeMap::<String, Vec<&PathBuf>>::new();
    let mut study = String::new();
    for f in &files {
        let (st, se, _) = uids(f);
        study = st;
        by_series.entry(se).or_default().push(f);
    }
    let series: Vec<String> = by_series.keys().cloned().collect();
    let (growing, complete) = (series[2].clone(), &series[..2]);
    // Two whole series and the first instance of the third.
    let mut first: Vec<&PathBuf> = complete.iter().flat_map(|s| by_series[s].clone()).collect();
    first.push(by_series[&growing][0]);
    served.send(&first);
    assert!(served.runs().is_empty(), "nothing is launched before the quiet time");
    // The third series keeps arriving, an instance every 2 s (quiet is 5 s).
    for f in &by_series[&growing][1..] {
        std::thread::sleep(Duration::from_secs(2));
        served.send(&[f]);
    }
    let launched = served.launch_inputs();
    let dir = |s: &str| served.data().join(&study).join(s).to_string_lossy().into_owned();
    let mut got: Vec<&String> = launched.values().collect();
    got.sort();
    let mut want: Vec<String> = complete.iter().map(|s| dir(s)).collect();
    want.sort();
    assert_eq!(
        got,
        want.iter().collect::<Vec<_>>(),
        "the complete series are launched, the growing one is not\n{}",
        served.log()
    );
    wait_for("the third series' launch", Duration::from_secs(30), || served.launch_inputs().len() == 3);
    let launched = served.launch_inputs();
    let mut got: Vec<String> = launched.values().cloned().collect();
    got.sort();
    let mut want: Vec<String> = series.iter().map(|s| dir(s)).collect();
    want.sort();
    assert_eq!(got, want, "one launch per series, each on its directory");
    // The runs succeed, made as the rule's user, and count their series' files.
    wait_for("the runs to end", Duration::from_secs(180), || served.runs().iter().all(|r| r["terminal"] == true));
    let runs = served.runs();
    assert_eq!(runs.len(), 3);
    for r in &runs {
        assert_eq!(
            (r["status"].as_str(), r["user"].as_str(), r["tool"].as_str()),
            (Some("succeeded"), Some("dicom"), Some("dcm-count")),
            "{r}\n{}",
            served.log()
        );
        let id = r["id"].as_str().expect("id");
        let count = std::fs::read_to_string(served.dir.path().join("home/outputs/p").join(id).join("count.txt"))
            .expect("count.txt");
        let series_dir = PathBuf::from(&launched[id]);
        let uid = series_dir.file_name().expect("uid").to_string_lossy().into_owned();
        assert_eq!(count.trim(), by_series[&uid].len().to_string(), "run {id} counted its series");
    }
    // Audited as the rule's user, by rule; the CT rule never fired.
    let audit: serde_json::Value =
        serde_json::from_str(&served.ok(&["audit", "ls", "--actor", "dicom", "--json"])).expect("audit json");
    let entries = audit.as_array().expect("entries");
    let by_rule: Vec<_> = entries
        .iter()
        .filter(|e| e["action"] == "launch")
        .map(|e| e["via"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(by_rule, ["dicom-rule:count-mr"; 3], "{audit}");
    // A restart launches nothing again.
    served.stop();
    served.start();
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(served.launch_inputs().len(), 3, "a restart launched again\n{}", served.log());
    assert!(served.log().contains("DICOM rule(s) watching arrivals"), "{}", served.log());
}

/// A rule's `send_to`: a successful run's DICOM outputs are sent to dcmtk's `storescp` with
/// berth's SCU, each file recorded in `dicom_sends` with the run, the send audited as the
/// rule's user.
#[test]
fn dicom_rule_sends_results_back_to_dcmtk_storescp_with_docker() {
    dcmtk();
    let scp_port = free_port();
    let received = tempfile::tempdir().expect("tmp");
    let mut scp = Command::new("storescp")
        .args(["-aet", "PACS", "+xa", "-od"])
        .arg(received.path())
        .arg(scp_port.to_string())
        .spawn()
        .expect("storescp");
    let to = format!("PACS@127.0.0.1:{scp_port}");
    let served = Served::new(&format!(
        "[[dicom.rules]]\nname = \"copy-back\"\nproject = \"p\"\nquiet = \"3s\"\ntool = \"dcm-copy\"\ninput = \"input\"\n\
         as_user = \"dicom\"\nsend_to = \"{to}\"\n"
    ));
    let src = tempfile::tempdir().expect("tmp");
    let files = generate(src.path(), 4, 1);
    // A hostile calling AE title: the page must show it as text.
    served.send_as("<b>EVIL</b>", &files.iter().collect::<Vec<_>>());
    let count = || std::fs::read_dir(received.path()).map(|d| d.count()).unwrap_or(0);
    wait_for("the results at storescp", Duration::from_secs(180), || count() >= files.len());
    // The sends are recorded after the last file is answered.
    wait_for("the sends recorded", Duration::from_secs(30), || {
        served.sql("SELECT count(*) FROM dicom_sends WHERE ok = 1")[0][0] == files.len()
    });
    let _ = scp.kill();
    let _ = scp.wait();
    let mut sent: Vec<String> = files.iter().map(|f| uids(f).2).collect();
    let mut got: Vec<String> =
        std::fs::read_dir(received.path()).expect("ls").map(|e| uids(&e.expect("e").path()).2).collect();
    sent.sort();
    got.sort();
    assert_eq!(got, sent, "storescp received the run's outputs");
    let runs = served.sql("SELECT run_id FROM launches");
    assert_eq!(runs.len(), 1, "one launch for the one series");
    let linked = served.sql("SELECT DISTINCT run_id, destination FROM dicom_sends");
    assert_eq!(linked, [serde_json::json!([runs[0][0], to])], "every send is linked to the run");
    let results = served.sql("SELECT results FROM dicom_triggers");
    assert_eq!(results[0][0], format!("sent 4 of 4 file(s) to {to}"));
    let audit = served.ok(&["audit", "ls", "--actor", "dicom", "--json"]);
    let audit: serde_json::Value = serde_json::from_str(&audit).expect("json");
    assert!(
        audit
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["action"] == "dicom-send" && e["object"] == format!("dicom:{to}") && e["outcome"] == "ok"),
        "{audit}"
    );
    // The project's DICOM overview: for members and admins; others get 404.
    let (status, body) = served.get(&served.admin, "/api/v1/projects/p/dicom");
    assert_eq!(status, 200, "{body}");
    let o: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(o["studies"][0]["series"][0]["instances"], 4, "{o}");
    assert_eq!(o["studies"][0]["series"][0]["calling_ae"], "<b>EVIL</b>", "{o}");
    assert_eq!(o["triggers"][0]["rule"], "copy-back", "{o}");
    assert!(o["triggers"][0]["launch_id"].is_string(), "{o}");
    let dicom_token = served.ok(&["user", "token", "dicom"]).trim().to_owned();
    assert_eq!(served.get(&dicom_token, "/api/v1/projects/p/dicom").0, 200);
    let outsider = served.ok(&["user", "token", "outsider"]).trim().to_owned();
    assert_eq!(served.get(&outsider, "/api/v1/projects/p/dicom").0, 404, "a non-member does not see the project");
    let (status, html) = served.page(&served.admin, "/ui/projects/p/dicom");
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("&lt;b&gt;EVIL&lt;&#x2f;b&gt;") || html.contains("&lt;b&gt;EVIL&lt;/b&gt;"), "{html}");
    assert!(!html.contains("<b>EVIL"), "a string from the wire is escaped");
    assert!(html.contains("copy-back") && html.contains(o["triggers"][0]["launch_id"].as_str().expect("id")), "{html}");
    let (status, _) = served.page(&outsider, "/ui/projects/p/dicom");
    assert_eq!(status, 404, "a non-member gets the not-found page");
}

/// Copies the `.dcm` files of its input directory into its output directory `copies`
/// (busybox), declared so that a pipeline publishes it.
const DCM_COPIES: &str = r#"{
    "name": "dcm-copies", "tool-version": "1", "schema-version": "0.5",
    "description": "Copies the .dcm files of a directory into copies/.",
    "command-line": "mkdir copies && cp [INPUT]/*.dcm copies/",
    "container-image": {"type": "docker", "image": "berth-test/busybox:latest"},
    "inputs": [{"id": "input", "name": "Input", "type": "File", "value-key": "[INPUT]"}],
    "output-files": [{"id": "copies", "name": "Copies", "path-template": "copies"}]
}"#;

/// A pipeline of two steps over a received series: `count` (the registered tool dcm-count)
/// and `copy` (dcm-copies, whose published outputs are DICOM), both bound to the series
/// directory through the `series` parameter.
const SERIES_PIPELINE: &str = r#"berth-pipeline: 1
name: dicom-series
description: Counts a received series' files and copies them.
params:
  series: ""
steps:
  count:
    tool: dcm-count
    inputs:
      input: ${params.series}
  copy:
    descriptor: dcm-copies.json
    inputs:
      input: ${params.series}
"#;

/// Kills a process (a peer the test started) when dropped, also when the test fails.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.to_string()).stderr(Stdio::null()).status();
    }
}

fn find_file(dir: &Path, name: &str, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if p.is_dir() {
            find_file(&p, name, out);
        } else if e.file_name() == name {
            out.push(p);
        }
    }
}

/// `[[dicom.rules]]` with `pipeline`: dcmtk's storescu sends a study of two series; the rule
/// starts the pipeline once per series (as `POST /api/v1/pipelines` would, as an admin) with
/// the series directory as its `series` parameter; each pipeline run succeeds and counts its
/// series; the DICOM files it published are sent to dcmtk's storescp, each once, recorded with
/// the pipeline run; a rule whose user is not an admin is refused and recorded so; a restart
/// starts nothing again.
#[test]
fn dicom_rule_starts_a_pipeline_per_series_and_sends_its_results_with_docker() {
    dcmtk();
    let scp_port = free_port();
    let received = tempfile::tempdir().expect("tmp");
    let mut scp = Command::new("storescp")
        .args(["-aet", "PACS", "+xa", "-od"])
        .arg(received.path())
        .arg(scp_port.to_string())
        .spawn()
        .expect("storescp");
    let _scp_guard = KillOnDrop(scp.id());
    let to = format!("PACS@127.0.0.1:{scp_port}");
    let mut served = Served::with_pipelines(
        &format!(
            "[[dicom.rules]]\nname = \"series-pipeline\"\nproject = \"p\"\nquiet = \"3s\"\npipeline = \"series.yaml\"\n\
             input = \"series\"\nas_user = \"admin\"\nsend_to = \"{to}\"\n\
             [[dicom.rules]]\nname = \"not-admin\"\nproject = \"p\"\nquiet = \"3s\"\npipeline = \"series.yaml\"\n\
             input = \"series\"\nas_user = \"dicom\"\n"
        ),
        &[("series.yaml", SERIES_PIPELINE), ("dcm-copies.json", DCM_COPIES)],
    );
    let src = tempfile::tempdir().expect("tmp");
    let files = generate(src.path(), 6, 2);
    let mut by_series = BTreeMap::<String, usize>::new();
    let mut study = String::new();
    for f in &files {
        let (st, se, _) = uids(f);
        study = st;
        *by_series.entry(se).or_default() += 1;
    }
    assert_eq!(by_series.len(), 2);
    served.send(&files.iter().collect::<Vec<_>>());
    let count = || std::fs::read_dir(received.path()).map(|d| d.count()).unwrap_or(0);
    let start = Instant::now();
    while count() < files.len() {
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "timed out waiting for the pipelines' results at storescp\ntriggers: {:?}\npipeline runs: {:?}\n{}",
            served.sql("SELECT rule, uid, pipeline_run_id, error, results FROM dicom_triggers"),
            served.sql("SELECT id, status, status_message FROM pipeline_runs"),
            served.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_for("the sends recorded", Duration::from_secs(60), || {
        served.sql("SELECT count(*) FROM dicom_triggers WHERE rule = 'series-pipeline' AND results IS NOT NULL")[0][0]
            == 2
    });
    let _ = scp.kill();
    let _ = scp.wait();
    // storescp received each of the study's instances once: the published copies, not also
    // the tasks' work files.
    let mut sent: Vec<String> = files.iter().map(|f| uids(f).2).collect();
    let mut got: Vec<String> =
        std::fs::read_dir(received.path()).expect("ls").map(|e| uids(&e.expect("e").path()).2).collect();
    sent.sort();
    got.sort();
    assert_eq!(got, sent, "storescp received the pipelines' DICOM outputs\n{}", served.log());
    assert_eq!(served.sql("SELECT count(*) FROM dicom_sends WHERE ok = 1")[0][0], files.len());
    // One trigger per series, each with its pipeline run, no tool launch queued.
    let triggers = served.sql(
        "SELECT uid, directory, pipeline_run_id, launch_id, results FROM dicom_triggers \
         WHERE rule = 'series-pipeline' ORDER BY uid",
    );
    assert_eq!(triggers.len(), 2, "{triggers:?}");
    assert!(served.sql("SELECT id FROM launches").is_empty(), "a pipeline rule queues no tool launch");
    for (t, (uid, n)) in triggers.iter().zip(&by_series) {
        assert_eq!(t[0].as_str(), Some(uid.as_str()));
        assert_eq!(t[1].as_str().map(PathBuf::from), Some(served.data().join(&study).join(uid)));
        assert!(t[3].is_null(), "{t:?}");
        assert_eq!(t[4], format!("sent {n} of {n} file(s) to {to}"));
        let id = t[2].as_str().expect("a pipeline run");
        let (status, body) = served.get(&served.admin, &format!("/api/v1/pipelines/{id}"));
        assert_eq!(status, 200, "{body}");
        let run: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(run["status"], "succeeded", "{run}\n{}", served.log());
        assert_eq!(run["tasks"].as_array().map(Vec::len), Some(2), "{run}");
        // Its `count` step counted its series' files.
        let out = PathBuf::from(run["new"]["output_dir"].as_str().expect("output_dir"));
        assert_eq!(out, served.dir.path().join("home/outputs/pipelines/dicom/p/series-pipeline").join(uid));
        let mut counts = Vec::new();
        find_file(&out, "count.txt", &mut counts);
        assert_eq!(counts.len(), 1, "{counts:?}");
        assert_eq!(std::fs::read_to_string(&counts[0]).expect("count").trim(), n.to_string());
        let linked = served.sql(&format!("SELECT count(*) FROM dicom_sends WHERE run_id = '{id}' AND ok = 1"));
        assert_eq!(linked[0][0], *n, "the sends are recorded with the pipeline run");
    }
    // The rule made as a user who is not an admin is refused, once per series, and says why.
    let refused = served.sql("SELECT error, pipeline_run_id FROM dicom_triggers WHERE rule = 'not-admin'");
    assert_eq!(refused.len(), 2, "{refused:?}");
    for r in &refused {
        assert!(r[0].as_str().is_some_and(|e| e.contains("not an admin")) && r[1].is_null(), "{r:?}");
    }
    // Audited as the rules' users, action `pipeline`.
    let audit: serde_json::Value = serde_json::from_str(&served.ok(&["audit", "ls", "--json"])).expect("audit json");
    let by: Vec<(String, String)> = audit
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == "pipeline" && e["via"].as_str().is_some_and(|v| v.starts_with("dicom-rule:")))
        .map(|e| (e["via"].as_str().unwrap_or("").to_owned(), e["outcome"].as_str().unwrap_or("").to_owned()))
        .collect();
    let mut by = by;
    by.sort();
    assert_eq!(
        by,
        [
            ("dicom-rule:not-admin".to_owned(), "refused".to_owned()),
            ("dicom-rule:not-admin".to_owned(), "refused".to_owned()),
            ("dicom-rule:series-pipeline".to_owned(), "ok".to_owned()),
            ("dicom-rule:series-pipeline".to_owned(), "ok".to_owned()),
        ],
        "{audit}"
    );
    // A restart starts nothing again.
    served.stop();
    served.start();
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(served.sql("SELECT count(*) FROM pipeline_runs")[0][0], 2, "{}", served.log());
}
