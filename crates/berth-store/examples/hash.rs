//! Hash files and directories from the shell, as berth records them: prints `<sha256>  <path>`
//! like `sha256sum`, and on stderr the time taken and how much the cache saved.
//!
//! ```sh
//! cargo run --release -p berth-store --example hash -- [--home DIR | --no-cache] \
//!     [--threads N] [--buffer BYTES] [--racy-window-ms MS] [--manifest] PATH...
//! ```
//!
//! With `--home` (default: the store `BERTH_HOME` & co. name) digests are cached in that
//! store's database, so a second run over unchanged files reads nothing.
//! `bench/hash_vs_sha256sum.py` drives this against `sha256sum`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use berth_store::hash::manifest_text;
use berth_store::{HashCache, Hasher, NoCache, Store};

fn main() -> anyhow::Result<()> {
    let mut home: Option<PathBuf> = None;
    let mut no_cache = false;
    let mut threads = None;
    let mut buffer = None;
    let mut racy = None;
    let mut manifest = false;
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("`{name}` needs a value"));
        match arg.as_str() {
            "--home" => home = Some(value("--home")?.into()),
            "--no-cache" => no_cache = true,
            "--threads" => threads = Some(value("--threads")?.parse()?),
            "--buffer" => buffer = Some(value("--buffer")?.parse()?),
            "--racy-window-ms" => racy = Some(Duration::from_millis(value("--racy-window-ms")?.parse()?)),
            "--manifest" => manifest = true,
            "-h" | "--help" => {
                println!(
                    "usage: hash [--home DIR | --no-cache] [--threads N] [--buffer BYTES] [--racy-window-ms MS] [--manifest] PATH..."
                );
                return Ok(());
            }
            flag if flag.starts_with("--") => bail!("unknown option `{flag}`"),
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    if paths.is_empty() {
        bail!("give at least one path (see `--help`)");
    }

    let opened = Instant::now();
    let store = match (no_cache, home) {
        (true, _) => None,
        (false, Some(home)) => Some(Store::open(&home)?),
        (false, None) => Some(Store::open_default()?),
    };
    let cache: &dyn HashCache = match &store {
        Some(store) => store,
        None => &NoCache,
    };
    let open_time = opened.elapsed();
    let mut hasher = Hasher::new(cache);
    if let Some(n) = threads {
        hasher = hasher.threads(n);
    }
    if let Some(n) = buffer {
        hasher = hasher.buffer_size(n);
    }
    if let Some(w) = racy {
        hasher = hasher.racy_window(w);
    }
    for path in &paths {
        let started = Instant::now();
        let hash = hasher.hash_path(path).with_context(|| format!("hashing `{}`", path.display()))?;
        let took = started.elapsed();
        println!("{}  {}", hash.sha256, path.display());
        if manifest {
            print!("{}", manifest_text(hash.manifest.as_deref().unwrap_or_default()));
        }
        let mb_per_s = hash.stats.bytes_read as f64 / 1e6 / took.as_secs_f64().max(1e-9);
        eprintln!(
            "hash: {} in {:.6} s ({} files, {} from the cache, {} bytes read, {mb_per_s:.0} MB/s read; store opened in {:.6} s)",
            path.display(),
            took.as_secs_f64(),
            hash.stats.files,
            hash.stats.cache_hits,
            hash.stats.bytes_read,
            open_time.as_secs_f64(),
        );
    }
    Ok(())
}
