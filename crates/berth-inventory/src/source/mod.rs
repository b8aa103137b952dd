//! Sources: turn a [`Target`] into an ordered list of layers to read.
//!
//! - [`Target::Image`]: exported by the container engine (`docker save`, no container started)
//!   into a private temporary directory, then read as a docker archive;
//! - [`Target::DockerArchive`], [`Target::OciArchive`]: tarballs, indexed and read in place;
//! - [`Target::OciDir`]: an OCI image layout directory;
//! - [`Target::Rootfs`]: a directory, one layer.

pub mod archive;
pub mod layer;
pub mod rootfs;

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_engine::Engine;
use futures_util::StreamExt;

use crate::budget::{Limits, Meter};
use crate::error::SourceError;
use crate::fs::LayerFiles;
use crate::model::{Layer, TargetInfo, TargetKind};
use archive::{Blobs, ImageLayout};

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An image the container engine has (a reference or an image ID).
    Image(String),
    /// A `docker save` tarball.
    DockerArchive(PathBuf),
    /// An OCI image layout in a tarball.
    OciArchive(PathBuf),
    /// An OCI image layout directory.
    OciDir(PathBuf),
    /// A root filesystem directory.
    Rootfs(PathBuf),
}

impl Target {
    /// Read a target as the command line gives it: `docker-archive:FILE`, `oci-archive:FILE`,
    /// `oci-dir:DIR`, `dir:DIR` and `image:REF` say what it is; without a prefix, an existing
    /// directory is an OCI layout if it has `oci-layout`, else a root filesystem; an existing
    /// file is an archive (its kind is found when it is opened); anything else is an image
    /// reference for the engine.
    pub fn parse(s: &str) -> Self {
        let prefixed = |p: &str| s.strip_prefix(p).map(PathBuf::from);
        if let Some(p) = prefixed("docker-archive:") {
            return Self::DockerArchive(p);
        }
        if let Some(p) = prefixed("oci-archive:") {
            return Self::OciArchive(p);
        }
        if let Some(p) = prefixed("oci-dir:") {
            return Self::OciDir(p);
        }
        if let Some(p) = prefixed("dir:").or_else(|| prefixed("rootfs:")) {
            return Self::Rootfs(p);
        }
        if let Some(r) = s.strip_prefix("image:").or_else(|| s.strip_prefix("docker:")) {
            return Self::Image(r.to_owned());
        }
        let path = Path::new(s);
        if path.is_dir() {
            if path.join("oci-layout").is_file() {
                Self::OciDir(path.to_owned())
            } else {
                Self::Rootfs(path.to_owned())
            }
        } else if path.is_file() {
            // Decided on opening: `manifest.json` (docker save) or `index.json` (OCI).
            Self::DockerArchive(path.to_owned())
        } else {
            Self::Image(s.to_owned())
        }
    }

    /// The kind of target.
    pub fn kind(&self) -> TargetKind {
        match self {
            Self::Image(_) => TargetKind::Image,
            Self::DockerArchive(_) => TargetKind::DockerArchive,
            Self::OciArchive(_) => TargetKind::OciArchive,
            Self::OciDir(_) => TargetKind::OciDir,
            Self::Rootfs(_) => TargetKind::Rootfs,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Image(r) => write!(f, "{r}"),
            Self::DockerArchive(p) | Self::OciArchive(p) | Self::OciDir(p) | Self::Rootfs(p) => {
                write!(f, "{}:{}", self.kind().scheme(), p.display())
            }
        }
    }
}

/// An opened target: its description and a way to read each layer in order.
pub struct Opened {
    /// What it is.
    pub info: TargetInfo,
    /// The layers as reported.
    pub layers: Vec<Layer>,
    reader: Reader,
    /// The scan's budget (see [`crate::budget`]).
    pub meter: Arc<Meter>,
    /// Keeps an engine export alive while it is read; removed when dropped.
    _temp: Option<tempfile::TempDir>,
}

enum Reader {
    Layout(Arc<ImageLayout>),
    Rootfs(PathBuf),
}

impl Opened {
    /// Read layer `index` keeping the contents of the paths `required` accepts, while the
    /// layers read before hold `held` bytes (see [`crate::fs::View::held`]).
    pub fn read_layer(
        &self,
        index: usize,
        required: &(dyn Fn(&str) -> bool + Sync),
        held: u64,
    ) -> Result<LayerFiles, SourceError> {
        match &self.reader {
            Reader::Rootfs(root) => rootfs::walk(root, required, &self.meter),
            Reader::Layout(layout) => {
                let member = &layout.layer_members[index];
                let what = format!("layer {index} (`{member}`)");
                let ctx = layer::LayerRead { archive: layout.blobs.origin(), what: &what, meter: &self.meter, held };
                layer::read_layer(layout.blobs.open(member)?, required, &ctx)
            }
        }
    }

    /// Examine each of `paths` written by layer `index` (the candidates of the unowned-binary
    /// pass, [`crate::binary`]): a root filesystem's files are opened one by one beneath the
    /// root and streamed (only those that start like an ELF file); a layer is read again
    /// keeping only these paths. Files that are not ELF are left out.
    pub fn examine_files(
        &self,
        index: usize,
        paths: &[String],
        warnings: &mut Vec<String>,
    ) -> Result<Vec<crate::binary::Examined>, SourceError> {
        let limits = self.meter.limits;
        let mut examined = Vec::new();
        match &self.reader {
            Reader::Rootfs(root) => {
                let beneath = berth_hostpath::Root::open(root).map_err(|e| SourceError::Layout {
                    path: root.clone(),
                    name: ".".to_owned(),
                    source: e,
                })?;
                for path in worth_examining(&beneath, paths) {
                    let library = crate::binary::is_library_name(path);
                    // Opened beneath the root, never through a link, non-blocking, regular
                    // files only (a file swapped for a FIFO or a link since the stat is passed
                    // over), the mode checked again on what was opened.
                    let Ok(mut file) = beneath.open_file(Path::new(path)) else { continue };
                    let Ok(meta) = file.metadata() else { continue };
                    if std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 == 0 && !library {
                        continue;
                    }
                    let mut head = [0u8; 4];
                    if std::io::Read::read_exact(&mut file, &mut head).is_err() || !crate::binary::is_elf(&head) {
                        continue;
                    }
                    // Charged before it is read, so that a huge (or sparse) file trips the
                    // read budget instead of being hashed.
                    self.meter.consume(meta.len()).map_err(|_| SourceError::ReadLimit {
                        path: root.clone(),
                        what: format!("`{path}`"),
                        limit: limits.max_read_bytes,
                    })?;
                    let io = |source| SourceError::Io { path: root.join(path), source };
                    std::io::Seek::rewind(&mut file).map_err(io)?;
                    examined
                        .push(crate::binary::examine_file(path, Some(index), file, meta.len(), warnings).map_err(io)?);
                }
            }
            Reader::Layout(_) => {
                let wanted: std::collections::HashSet<&str> = paths.iter().map(String::as_str).collect();
                let files = self.read_layer(index, &|p| wanted.contains(p), 0)?;
                for s in &files.skipped {
                    warnings.push(format!(
                        "`{}`: an unowned file of {} bytes in layer {index}, over the memory allowed: listed, not examined",
                        s.path, s.size
                    ));
                    examined.push((crate::binary::unread(&s.path, Some(index), s.size), Vec::new()));
                }
                for (path, entry) in &files.entries {
                    if let crate::fs::Entry::File { content: Some(c), .. } = entry
                        && wanted.contains(path.as_str())
                        && crate::binary::is_elf(c)
                    {
                        examined.push(crate::binary::examine_bytes(path, Some(index), c, warnings));
                    }
                }
            }
        }
        Ok(examined)
    }
}

/// The candidates among `paths` (sorted, cleaned, relative to `root`) worth reading: regular
/// files with an execute bit or a shared-library name. One `stat` each tells (most candidates
/// are compiled Python or data), made by name from the file's directory, which is opened once
/// for all the candidates it holds (through no link, see [`berth_hostpath::Root::walk_dir_at`]):
/// a stat by full path resolved every directory on the way again, which was most of the pass.
/// The directories are shared among up to four threads (the stats wait on the kernel). In
/// order; a directory or file that cannot be opened or stat-ed is passed over.
fn worth_examining<'a>(root: &berth_hostpath::Root, paths: &'a [String]) -> Vec<&'a String> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let mut runs: Vec<&'a [String]> = Vec::new();
    let mut start = 0;
    for i in 1..=paths.len() {
        if i == paths.len() || crate::fs::parent(&paths[i]) != crate::fs::parent(&paths[start]) {
            runs.push(&paths[start..i]);
            start = i;
        }
    }
    let worth_in = |run: &'a [String]| -> Vec<&'a String> {
        let Some(first) = run.first() else { return Vec::new() };
        let Ok(berth_hostpath::Subdir::Opened(dir)) = root.walk_dir_at(Path::new(crate::fs::parent(first))) else {
            return Vec::new();
        };
        run.iter()
            .filter(|path| {
                let library = crate::binary::is_library_name(path);
                matches!(dir.stat(std::ffi::OsStr::new(crate::fs::file_name(path))),
                    Ok(st) if st.st_mode & 0o170_000 == 0o100_000 && (library || st.st_mode & 0o111 != 0))
            })
            .collect()
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
    if workers == 1 || paths.len() < 256 {
        return runs.into_iter().flat_map(worth_in).collect();
    }
    // Each thread takes the next directory until none is left (their sizes differ widely).
    let next = AtomicUsize::new(0);
    let mut found: Vec<(usize, Vec<&'a String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(run) = runs.get(i) else { break };
                        let kept = worth_in(run);
                        if !kept.is_empty() {
                            mine.push((i, kept));
                        }
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    found.sort_by_key(|(i, _)| *i);
    found.into_iter().flat_map(|(_, kept)| kept).collect()
}

fn info(name: String, kind: TargetKind) -> TargetInfo {
    TargetInfo { name, kind, image_id: None, repo_tags: Vec::new(), architecture: None }
}

fn from_layout(
    name: String,
    layout: ImageLayout,
    temp: Option<tempfile::TempDir>,
    kind: TargetKind,
    meter: Arc<Meter>,
) -> Opened {
    let mut target = info(name, kind);
    target.image_id = layout.image_id.clone();
    target.repo_tags = layout.repo_tags.clone();
    target.architecture = layout.architecture.clone();
    Opened { info: target, layers: layout.layers.clone(), reader: Reader::Layout(Arc::new(layout)), meter, _temp: temp }
}

/// Open a local target (everything but [`Target::Image`]), to be read within `limits`.
pub fn open_local(target: &Target, limits: &Limits) -> Result<Opened, SourceError> {
    let name = target.to_string();
    let meter = Meter::new(*limits);
    match target {
        Target::Image(reference) => Err(SourceError::NoEngine { reference: reference.clone() }),
        Target::Rootfs(root) => {
            let meta = std::fs::metadata(root).map_err(|source| SourceError::Io { path: root.clone(), source })?;
            if !meta.is_dir() {
                return Err(SourceError::NotFound { target: name });
            }
            Ok(Opened {
                info: info(name, TargetKind::Rootfs),
                layers: vec![Layer { index: 0, diff_id: None, digest: None, created_by: None }],
                reader: Reader::Rootfs(root.clone()),
                meter,
                _temp: None,
            })
        }
        Target::OciDir(root) => {
            let root = berth_hostpath::Root::open(root).map_err(|e| SourceError::Layout {
                path: root.clone(),
                name: ".".to_owned(),
                source: e,
            })?;
            let layout = archive::oci_layout(Blobs::Dir { root }, TargetKind::OciDir, limits.max_document_bytes)?;
            Ok(from_layout(name, layout, None, TargetKind::OciDir, meter))
        }
        Target::DockerArchive(path) | Target::OciArchive(path) => open_archive(name, path, None, None, meter),
    }
}

/// Open a tarball, telling `docker save` archives (`manifest.json`) from OCI archives
/// (`index.json` only).
fn open_archive(
    name: String,
    path: &Path,
    temp: Option<tempfile::TempDir>,
    as_kind: Option<TargetKind>,
    meter: Arc<Meter>,
) -> Result<Opened, SourceError> {
    let blobs = Blobs::index_tar(path, &meter)?;
    let limit = meter.limits.max_document_bytes;
    let (layout, kind) = if blobs.has("manifest.json") {
        (archive::docker_archive(blobs, limit)?, TargetKind::DockerArchive)
    } else if blobs.has("index.json") {
        (archive::oci_layout(blobs, TargetKind::OciArchive, limit)?, TargetKind::OciArchive)
    } else {
        return Err(SourceError::UnknownArchive { path: path.to_owned() });
    };
    let kind = as_kind.unwrap_or(kind);
    let name = if as_kind.is_none() { format!("{}:{}", kind.scheme(), path.display()) } else { name };
    Ok(from_layout(name, layout, temp, kind, meter))
}

/// Open any target; images are exported through `engine` into a private temporary directory
/// (mode 0700, under `temp_root` or the system's), removed when the result is dropped.
pub async fn open(
    target: &Target,
    engine: Option<&dyn Engine>,
    temp_root: Option<&Path>,
    limits: &Limits,
) -> Result<Opened, SourceError> {
    let Target::Image(reference) = target else {
        return open_local(target, limits);
    };
    let engine = engine.ok_or_else(|| SourceError::NoEngine { reference: reference.clone() })?;
    let dir = match temp_root {
        Some(root) => tempfile::Builder::new().prefix("berth-export-").tempdir_in(root),
        None => tempfile::Builder::new().prefix("berth-export-").tempdir(),
    }
    .map_err(|source| SourceError::Io { path: temp_root.map_or_else(std::env::temp_dir, Path::to_owned), source })?;
    let file_path = dir.path().join("image.tar");
    let io = |source| SourceError::Io { path: file_path.clone(), source };
    let mut file = std::io::BufWriter::new(std::fs::File::create(&file_path).map_err(io)?);
    let mut chunks = engine.export_image(reference);
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|source| match source {
            berth_engine::EngineError::ImageNotFound { .. } => SourceError::NotFound { target: reference.clone() },
            source => SourceError::Engine { reference: reference.clone(), source },
        })?;
        file.write_all(&chunk).map_err(io)?;
    }
    file.flush().map_err(io)?;
    drop(file);
    let mut opened =
        open_archive(reference.clone(), &file_path, Some(dir), Some(TargetKind::Image), Meter::new(*limits))?;
    if let Ok(Some(image)) = engine.inspect_image(reference).await {
        opened.info.image_id = Some(image.id);
        if opened.info.repo_tags.is_empty() {
            opened.info.repo_tags = image.repo_tags;
        }
    }
    Ok(opened)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_say_what_a_target_is() {
        assert_eq!(Target::parse("docker-archive:/x.tar"), Target::DockerArchive("/x.tar".into()));
        assert_eq!(Target::parse("oci-archive:x.tar"), Target::OciArchive("x.tar".into()));
        assert_eq!(Target::parse("oci-dir:d"), Target::OciDir("d".into()));
        assert_eq!(Target::parse("dir:/"), Target::Rootfs("/".into()));
        assert_eq!(Target::parse("debian:12"), Target::Image("debian:12".into()));
        assert_eq!(Target::parse("image:./x"), Target::Image("./x".into()));
        assert_eq!(Target::parse("/"), Target::Rootfs("/".into()));
    }
}
