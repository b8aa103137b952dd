//! Integration tests of hashing on real files: digests agree with `sha256sum`, directory
//! manifests change exactly when the tree does, special files are refused, and the cache is
//! used when (and only when) a file is unchanged.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use berth_store::hash::{CacheKey, HashCache, manifest_text, sha256_hex};
use berth_store::{
    EntryKind, FileKind, FileRecord, FileRole, HashError, Hasher, MemoryCache, NoCache, PathKind, Store,
};

/// The digest `sha256sum` prints for `path`.
fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("sha256sum (GNU coreutils) must be installed");
    assert!(out.status.success(), "sha256sum failed: {out:?}");
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_owned()
}

/// Deterministic bytes that are not all alike (a linear congruential sequence).
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

/// A hasher that caches every digest at once: these tests write their files just before
/// hashing them, well inside the default racy window.
fn eager(cache: &dyn HashCache) -> Hasher<'_> {
    Hasher::new(cache).racy_window(Duration::ZERO)
}

#[test]
fn file_digests_equal_sha256sum() {
    let dir = tempfile::tempdir().unwrap();
    for (name, len) in [("empty", 0), ("small", 11), ("block", 1 << 20), ("three-mib-plus-one", (3 << 20) + 1)] {
        let path = dir.path().join(name);
        fs::write(&path, pattern(len)).unwrap();
        let hash = Hasher::new(&NoCache).buffer_size(64 << 10).hash_path(&path).unwrap();
        assert_eq!(hash.sha256, sha256sum(&path), "{name}");
        assert_eq!((hash.kind, hash.size, hash.manifest), (PathKind::File, len as u64, None));
        assert_eq!(hash.stats.bytes_read, len as u64);
    }
}

#[test]
fn a_symlink_given_as_the_path_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("real"), b"data").unwrap();
    std::os::unix::fs::symlink("real", dir.path().join("link")).unwrap();
    let hash = berth_store::hash_path(&NoCache, &dir.path().join("link")).unwrap();
    assert_eq!(hash.sha256, sha256_hex(b"data"));
}

fn tree(root: &Path) {
    fs::create_dir_all(root.join("sub/deeper")).unwrap();
    fs::create_dir_all(root.join("empty-dir")).unwrap();
    fs::write(root.join("a.txt"), b"alpha").unwrap();
    fs::write(root.join("sub/b.bin"), pattern(100_000)).unwrap();
    fs::write(root.join("sub/deeper/c"), b"").unwrap();
    fs::write(root.join("name with space\nand newline"), b"odd").unwrap();
    std::os::unix::fs::symlink("../outside", root.join("sub/link")).unwrap();
}

#[test]
fn a_directory_manifest_lists_every_entry_sorted_and_hashes_its_text() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("d");
    tree(&root);
    let hash = berth_store::hash_path(&NoCache, &root).unwrap();
    let manifest = hash.manifest.clone().unwrap();
    let listed: Vec<(&str, EntryKind)> = manifest.iter().map(|e| (e.path.as_str(), e.kind)).collect();
    assert_eq!(
        listed,
        [
            ("a.txt", EntryKind::File),
            ("empty-dir", EntryKind::Dir),
            ("name with space\nand newline", EntryKind::File),
            ("sub", EntryKind::Dir),
            ("sub/b.bin", EntryKind::File),
            ("sub/deeper", EntryKind::Dir),
            ("sub/deeper/c", EntryKind::File),
            ("sub/link", EntryKind::Symlink),
        ]
    );
    let b = &manifest[4];
    assert_eq!((b.size, b.sha256.clone().unwrap()), (100_000, sha256sum(&root.join("sub/b.bin"))));
    let link = &manifest[7];
    assert_eq!((link.target.as_deref(), link.sha256.as_deref()), (Some("../outside"), None), "not followed");
    assert_eq!(hash.kind, PathKind::Dir);
    assert_eq!(hash.size, 5 + 100_000 + 3);
    assert_eq!(hash.sha256, sha256_hex(manifest_text(&manifest).as_bytes()));
    let text = manifest_text(&manifest);
    assert!(
        text.starts_with(
            "berth-manifest-v1\nfile 5 8ed3f6ad685b959ead7022518e1af76cd816f8e8ec7ccdda1ed4018e8f2223f8 \"a.txt\"\n"
        ),
        "{text}"
    );
    assert!(text.contains("\nfile 3 "), "{text}");
    assert!(text.contains(" \"name with space\\nand newline\"\n"), "names are JSON strings: {text}");
    assert!(text.ends_with("symlink \"sub/link\" \"../outside\"\n"), "{text}");
}

#[test]
fn a_manifest_is_stable_and_changes_with_content_names_and_new_entries() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("d");
    tree(&root);
    let digest = || berth_store::hash_path(&NoCache, &root).unwrap().sha256;
    let original = digest();
    assert_eq!(digest(), original, "stable across runs");
    // A copy elsewhere (other inodes, other times) hashes the same.
    let copy = dir.path().join("copy");
    tree(&copy);
    assert_eq!(berth_store::hash_path(&NoCache, &copy).unwrap().sha256, original);
    // Threads change nothing.
    assert_eq!(Hasher::new(&NoCache).threads(4).hash_path(&root).unwrap().sha256, original);
    assert_eq!(Hasher::new(&NoCache).threads(1).hash_path(&root).unwrap().sha256, original);

    let mut seen = vec![original.clone()];
    let mut changed = |what: &str, change: &dyn Fn()| {
        change();
        let now = digest();
        assert!(!seen.contains(&now), "{what} did not change the digest");
        seen.push(now);
    };
    changed("a content change of the same size", &|| fs::write(root.join("a.txt"), b"alphA").unwrap());
    changed("a rename", &|| fs::rename(root.join("sub/b.bin"), root.join("sub/b2.bin")).unwrap());
    changed("a new empty file", &|| fs::write(root.join("sub/new-empty"), b"").unwrap());
    changed("a new empty directory", &|| fs::create_dir(root.join("another-dir")).unwrap());
    changed("a new link target", &|| {
        fs::remove_file(root.join("sub/link")).unwrap();
        std::os::unix::fs::symlink("../elsewhere", root.join("sub/link")).unwrap();
    });
    changed("an empty file made a directory", &|| {
        fs::remove_file(root.join("sub/new-empty")).unwrap();
        fs::create_dir(root.join("sub/new-empty")).unwrap();
    });
}

#[test]
fn special_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo (GNU coreutils) must be installed");
    assert!(status.success());
    let err = berth_store::hash_path(&NoCache, &fifo).unwrap_err();
    assert!(matches!(&err, HashError::SpecialFile { path, .. } if path == &fifo), "{err:?}");
    assert!(err.to_string().contains("named pipe"), "{err}");
    assert!(err.hint().is_some());

    let tree = dir.path().join("tree");
    fs::create_dir(&tree).unwrap();
    fs::write(tree.join("ok"), b"fine").unwrap();
    let _listener = std::os::unix::net::UnixListener::bind(tree.join("sock")).unwrap();
    let err = berth_store::hash_path(&NoCache, &tree).unwrap_err();
    assert!(matches!(&err, HashError::SpecialFile { path, .. } if path == &tree.join("sock")), "{err:?}");
    assert!(err.to_string().contains("socket"), "{err}");

    let err = berth_store::hash_path(&NoCache, Path::new("/dev/null")).unwrap_err();
    assert!(err.to_string().contains("character device"), "{err}");
}

#[test]
fn a_missing_path_is_not_found_and_recorded_as_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent");
    assert!(matches!(berth_store::hash_path(&NoCache, &path), Err(HashError::NotFound { .. })));
    let record = FileRecord::hashed(&Hasher::new(&NoCache), FileRole::Output, "out", &path, None).unwrap();
    assert_eq!((record.kind, record.size, record.sha256), (FileKind::Missing, None, None));
}

#[test]
fn an_unchanged_file_is_not_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    fs::write(&path, pattern(3 << 20)).unwrap();
    let cache = MemoryCache::new();
    let first = eager(&cache).hash_path(&path).unwrap();
    assert_eq!((first.stats.cache_hits, first.stats.bytes_read), (0, 3 << 20));
    let second = eager(&cache).hash_path(&path).unwrap();
    assert_eq!(second.sha256, first.sha256);
    assert_eq!((second.stats.cache_hits, second.stats.bytes_read), (1, 0));
}

#[test]
fn a_cached_digest_is_used_instead_of_reading_the_file() {
    // Plant a wrong digest under the file's exact key: if the hasher returns it, it did not
    // read the file. (Only a test can make the cache lie; the key is the file's real one.)
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    fs::write(&path, b"real contents").unwrap();
    let cache = MemoryCache::new();
    let key = CacheKey::from_metadata(&fs::metadata(&path).unwrap());
    cache.insert(&[(key, "0".repeat(64))]).unwrap();
    assert_eq!(eager(&cache).hash_path(&path).unwrap().sha256, "0".repeat(64));
    // Any change to the file's metadata makes the planted entry useless.
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(60))
        .unwrap();
    assert_eq!(eager(&cache).hash_path(&path).unwrap().sha256, sha256_hex(b"real contents"));
}

#[test]
fn a_change_of_content_mtime_or_size_invalidates_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let cache = MemoryCache::new();
    fs::write(&path, b"version one").unwrap();
    eager(&cache).hash_path(&path).unwrap();
    let check = |what: &str| {
        let h = eager(&cache).hash_path(&path).unwrap();
        assert_eq!(h.sha256, sha256sum(&path), "{what}");
        assert_eq!(h.stats.cache_hits, 0, "{what}: the cache must not answer");
        let again = eager(&cache).hash_path(&path).unwrap();
        assert_eq!(again.stats.cache_hits, 1, "{what}: the new digest is cached");
    };
    // File timestamps come from a coarse clock (one timer tick, up to 10 ms): without the
    // pause, the rewrite could keep the very same mtime and ctime, which is exactly the case
    // the racy window exists for, and which this test (window zero) does not cover.
    std::thread::sleep(Duration::from_millis(50));
    fs::write(&path, b"version two").unwrap(); // same size, new content
    check("same-size rewrite");
    fs::write(&path, b"version three, longer").unwrap();
    check("new size");
    let f = fs::File::options().write(true).open(&path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(3600)).unwrap();
    check("mtime moved back");
}

#[test]
fn a_freshly_written_file_is_not_cached_within_the_racy_window() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    fs::write(&path, b"just written").unwrap();
    let cache = MemoryCache::new();
    let hasher = Hasher::new(&cache).racy_window(Duration::from_secs(3600));
    hasher.hash_path(&path).unwrap();
    let again = hasher.hash_path(&path).unwrap();
    assert_eq!((again.stats.cache_hits, again.stats.bytes_read), (0, 12), "too recent to trust its timestamps");
}

#[test]
fn the_store_cache_persists_across_processes_and_serves_directories() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let root = dir.path().join("d");
    tree(&root);
    let first = {
        let store = Store::open(&home).unwrap();
        eager(&store).hash_path(&root).unwrap()
    };
    assert_eq!((first.stats.files, first.stats.cache_hits), (4, 0));
    // A new Store is a new connection, as another berth process would open.
    let store = Store::open(&home).unwrap();
    let second = eager(&store).threads(2).hash_path(&root).unwrap();
    assert_eq!(second.sha256, first.sha256);
    assert_eq!((second.stats.files, second.stats.cache_hits, second.stats.bytes_read), (4, 4, 0));
    fs::write(root.join("a.txt"), b"changed").unwrap();
    let third = eager(&store).hash_path(&root).unwrap();
    assert_ne!(third.sha256, first.sha256);
    assert_eq!((third.stats.cache_hits, third.stats.bytes_read), (3, 7));
    // Pruning everything older than the future empties the cache.
    let removed =
        store.prune_hash_cache(&berth_store::time::format(SystemTime::now() + Duration::from_secs(60))).unwrap();
    assert_eq!(removed, 4);
    assert_eq!(eager(&store).hash_path(&root).unwrap().stats.cache_hits, 0);
}

#[test]
fn a_name_that_is_not_utf8_is_refused_with_its_path() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join(std::ffi::OsStr::from_bytes(b"caf\xe9.dcm"));
    fs::write(&bad, b"latin-1 name").unwrap();
    let err = berth_store::hash_path(&NoCache, dir.path()).unwrap_err();
    assert!(matches!(&err, HashError::NonUtf8Name { path } if path == &bad), "{err:?}");
    // The file itself, named by the caller, hashes fine: only manifests need UTF-8 names.
    assert_eq!(berth_store::hash_path(&NoCache, &bad).unwrap().sha256, sha256_hex(b"latin-1 name"));
}
