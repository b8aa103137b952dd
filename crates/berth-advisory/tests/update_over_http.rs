//! `berth db update` over HTTP: a server on loopback serves an OSV `all.zip` built from the real
//! PyPA advisories in `../shared/fixtures/advisories/osv-pypi`, records written for berth's
//! tests (`testdata/osv-distro.json`), and the excerpt of the Debian tracker's JSON export.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_advisory::db::Affection;
use berth_advisory::update::UpdateOptions;
use berth_advisory::{Database, Severity, UpdateError, status, update};

fn fixtures() -> PathBuf {
    match std::env::var_os("BERTH_SHARED_FIXTURES") {
        Some(dir) => PathBuf::from(dir).join("advisories"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/advisories"),
    }
}

/// Whether `../shared/fixtures/advisories` (or `$BERTH_SHARED_FIXTURES/advisories`) is here. A
/// fresh clone outside the project's workspace has no `../shared`; the tests that read it say
/// "skipped" then, as the XNAT fixture tests do.
fn fixtures_present() -> bool {
    let here = fixtures().is_dir();
    if !here {
        use std::io::Write as _;
        // Written to the real stderr, so that it shows even when the harness captures output.
        let _ = writeln!(std::io::stderr(), "skipped: {} not present", fixtures().display());
    }
    here
}

/// A loopback HTTP/1.1 server answering GETs from a fixed map; anything else is 404. It serves
/// at most `limit` requests and stops when the test process ends.
fn serve(routes: Vec<(String, Vec<u8>)>, limit: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    let routes = Arc::new(routes);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(limit) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).map_or(true, |n| n == 0) || header == "\r\n" {
                    break;
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let body = routes.iter().find(|(p, _)| *p == path).map(|(_, b)| b.clone());
            let (status, body) = match body {
                Some(b) => ("200 OK", b),
                None => ("404 Not Found", b"not here".to_vec()),
            };
            let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = stream.write_all(&body);
        }
    });
    format!("http://{addr}")
}

/// osv.dev's dump format: a zip of one JSON file per record.
fn pypi_zip() -> (Vec<u8>, usize) {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    let mut count = 0;
    let mut dirs: Vec<_> = std::fs::read_dir(fixtures().join("osv-pypi/vulns")).expect("fixtures").flatten().collect();
    dirs.sort_by_key(|d| d.path());
    for dir in dirs {
        let Ok(files) = std::fs::read_dir(dir.path()) else { continue };
        for f in files.flatten() {
            let p = f.path();
            if p.extension().is_some_and(|e| e == "yaml") {
                let record = berth_advisory::osv::from_yaml(&std::fs::read(&p).expect("read")).expect("yaml");
                if record.withdrawn.is_none() {
                    count += 1;
                }
                zip.start_file(format!("{}.json", record.id), options).expect("zip");
                zip.write_all(&serde_json::to_vec(&record).expect("json")).expect("zip");
            }
        }
    }
    (zip.finish().expect("zip").into_inner(), count)
}

#[test]
fn update_downloads_osv_dumps_and_the_tracker_and_status_describes_them() {
    if !fixtures_present() {
        return;
    }
    let (zip, live_records) = pypi_zip();
    assert_eq!(live_records, 2651, "2,661 PyPA advisories, 10 of them withdrawn");
    let tracker = std::fs::read(fixtures().join("debian-tracker/debian_security_tracker_mock.json")).expect("tracker");
    let ours = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/osv-distro.json")).expect("ours");
    let base = serve(
        vec![
            ("/osv/PyPI/all.zip".into(), zip),
            ("/tracker/data/json".into(), tracker),
            ("/osv/berth.json".into(), ours),
        ],
        10,
    );
    let dir = tempfile::tempdir().expect("tmp");
    let db_path = dir.path().join("adv.sqlite");
    let options = UpdateOptions { db_path: db_path.clone(), timeout: Duration::from_secs(30) };
    let sources =
        [format!("{base}/osv/PyPI/all.zip"), format!("{base}/tracker/data/json"), format!("{base}/osv/berth.json")];
    let summary = update(&sources, &options).expect("update");
    let kinds: Vec<(&str, u64)> = summary.sources.iter().map(|s| (s.kind.as_str(), s.records)).collect();
    assert_eq!(kinds, vec![("osv-zip", 2651), ("debian-tracker", 15), ("osv-json", 4)]);
    assert_eq!(summary.skipped, 0, "{:?}", summary.problems);

    let st = status(&db_path, Duration::from_secs(3600)).expect("status");
    assert!(!st.stale);
    assert_eq!(st.snapshot, summary.snapshot);
    assert_eq!(st.sources.len(), 3);
    assert!(st.ecosystems.contains(&("pypi".to_owned(), 2652)), "{:?}", st.ecosystems);
    let stale = status(&db_path, Duration::ZERO);
    assert!(stale.is_ok_and(|s| s.stale || s.age_seconds == 0));

    let db = Database::open(&db_path).expect("open");
    // A real record: aiohttp before 3.7.4 (PYSEC-2021-76, alias CVE-2021-21330).
    let aiohttp = db.affected("PyPI", "AIOHTTP").expect("query");
    let rec = aiohttp.iter().find(|r| r.advisory.id == "PYSEC-2021-76").expect("PYSEC-2021-76");
    assert!(rec.advisory.aliases.contains(&"CVE-2021-21330".to_owned()));
    match &rec.affection {
        Affection::Osv { ranges, .. } => {
            assert!(ranges.iter().all(|r| r.kind != "GIT"), "GIT ranges are commits, not versions");
            assert!(ranges.iter().any(|r| r.events.iter().any(|e| e.fixed.as_deref() == Some("3.7.4"))));
        }
        other => panic!("{other:?}"),
    }
    // The tracker: apparmor in bookworm, one not affected (fixed "0"), one unfixed.
    let apparmor = db.affected("Debian:12", "apparmor").expect("query");
    let statuses: Vec<String> = apparmor
        .iter()
        .map(|r| match &r.affection {
            Affection::Tracker { status, .. } => format!("{} {status}", r.advisory.id),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(statuses.contains(&"CVE-2014-1424 not-affected".to_owned()), "{statuses:?}");
    assert!(statuses.contains(&"CVE-2016-1585 unfixed".to_owned()), "{statuses:?}");
    // Our records: names normalized (Requests → requests), GitHub's rating kept.
    let requests = db.affected("PyPI", "requests").expect("query");
    let ghsa = requests.iter().find(|r| r.advisory.id == "GHSA-berth-test-0004").expect("ghsa");
    assert_eq!(
        (ghsa.advisory.rating, ghsa.advisory.rating_source.as_deref()),
        (Some(Severity::Medium), Some("github"))
    );
    assert_eq!(db.affected("Ubuntu:22.04", "curl").expect("query").len(), 1);
    assert_eq!(db.affected("Alpine:v3.19", "openssl").expect("query")[0].advisory.cvss[0].score, Some(9.3));
}

#[test]
fn a_failed_update_reports_the_status_and_keeps_the_old_database() {
    let dir = tempfile::tempdir().expect("tmp");
    let db_path = dir.path().join("adv.sqlite");
    let options = UpdateOptions { db_path: db_path.clone(), timeout: Duration::from_secs(10) };
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/osv-distro.json");
    let first = update(&[local.to_string_lossy().into_owned()], &options).expect("local update");
    let base = serve(Vec::new(), 2);
    // Progress is told per source; the good first source does not make a half database.
    let mut events = Vec::new();
    let sources = [local.to_string_lossy().into_owned(), format!("{base}/missing/all.zip")];
    let err = update::update_with_progress(&sources, &options, &mut |p| {
        events.push(match p {
            update::Progress::Reading { index, total, .. } => format!("reading {index}/{total}"),
            update::Progress::Loaded { index, total, info } => {
                format!("loaded {index}/{total}: {} {}", info.records, info.kind)
            }
        });
    })
    .expect_err("404");
    assert_eq!(events, ["reading 1/2", "loaded 1/2: 4 osv-json", "reading 2/2"]);
    assert!(matches!(err, UpdateError::Http { status: 404, .. }), "{err:?}");
    assert!(err.hint().is_some_and(|h| h.contains("--source")));
    let st = status(&db_path, Duration::from_secs(3600)).expect("old database still there");
    assert_eq!(st.snapshot, first.snapshot);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind: {leftovers:?}");
}

#[test]
fn a_missing_database_says_how_to_build_one() {
    let err = Database::open(Path::new("/nonexistent/adv.sqlite")).expect_err("missing");
    assert!(err.hint().is_some_and(|h| h.contains("berth db update")));
}
