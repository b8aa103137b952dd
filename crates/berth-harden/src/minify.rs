//! `berth harden minify`: run the tool on each given invocation under berth-trace, keep the
//! packages the runs touched (berth-minify's plan: owners, closure, essentials), build a
//! single-layer image without the others, then run every invocation again on the new image and
//! compare the outputs by hash. Any difference fails the minification.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use berth_descriptor::Descriptor;
use berth_engine::{ContainerSpec, Engine, EngineError, ImageConfig, ImageInfo, Network};
use berth_run::prepare::{Exec, PrepareOptions};
use berth_run::{RunOutcome, Runner};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::{LABEL_BASE_DIGEST, LABEL_BASE_ID, LABEL_BASE_REFERENCE, LABEL_KIND, LABEL_MINIFY_MODE, LABEL_REPAIRABLE};

/// Why a minification failed.
#[derive(Debug, thiserror::Error)]
pub enum MinifyRunError {
    /// The engine failed.
    #[error("the container engine failed while minifying `{image}`")]
    Engine {
        /// The image.
        image: String,
        /// The cause.
        #[source]
        source: EngineError,
    },
    /// The image is not on the engine.
    #[error("image `{image}` is not on the engine")]
    NotFound {
        /// The reference.
        image: String,
    },
    /// An invocation could not be prepared.
    #[error("invocation {invocation}: {message}")]
    Prepare {
        /// Which invocation (as given).
        invocation: String,
        /// What is wrong.
        message: String,
    },
    /// A run did not succeed.
    #[error("invocation {invocation} did not succeed on {which} image (run {run_id}): {why}")]
    RunFailed {
        /// Which invocation.
        invocation: String,
        /// `the original` or `the minified`.
        which: &'static str,
        /// The run's id (`berth show` it).
        run_id: String,
        /// Why.
        why: String,
    },
    /// The traced run's trace is missing or incomplete (the tracer was stopped, the trace cut).
    #[error(
        "invocation {invocation}: the trace of run {run_id} is incomplete, so it cannot tell what the analysis does not use; nothing is minified"
    )]
    IncompleteTrace {
        /// Which invocation.
        invocation: String,
        /// The traced run.
        run_id: String,
    },
    /// The minified image produced different outputs.
    #[error(
        "invocation {invocation}: output `{output}` differs on the minified image (sha256 {before} before, {after} after); the minification is refused"
    )]
    OutputChanged {
        /// Which invocation.
        invocation: String,
        /// The output id.
        output: String,
        /// Its hash on the original image.
        before: String,
        /// Its hash on the minified image (`missing` when absent).
        after: String,
    },
    /// The trace could not be used, or the plan failed.
    #[error("cannot minify `{image}`")]
    Minify {
        /// The image.
        image: String,
        /// The cause.
        #[source]
        source: berth_minify::MinifyError,
    },
    /// A file of the work directory.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The run itself errored.
    #[error("invocation {invocation}")]
    Run {
        /// Which invocation.
        invocation: String,
        /// The cause.
        #[source]
        source: Box<berth_run::RunError>,
    },
}

impl MinifyRunError {
    /// What the user can do.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NotFound { image } => Some(format!("pull it first: `berth image pull {image}`")),
            Self::OutputChanged { .. } => Some(
                "the output depends on something the trace cannot tie to one package (a directory listing, the \
                 package database, ...): keep it with `--keep PATH` or `--keep PACKAGE`, or leave this image as it is"
                    .into(),
            ),
            Self::RunFailed { run_id, .. } => Some(format!("see `berth logs {run_id}`")),
            _ => None,
        }
    }
}

/// What to minify, and how.
pub struct MinifyRequest<'a> {
    /// Runs each invocation (and records it).
    pub runner: &'a Runner<'a>,
    /// The invocations to trace, each of a tool the image carries (one image often carries
    /// several: dcmtk's decompressors, dcmdump and dcmodify); whatever none of them touches goes.
    pub invocations: Vec<Traced<'a>>,
    /// The image to minify.
    pub image: String,
    /// The static berth-trace binary on the engine's host.
    pub tracer: PathBuf,
    /// Where runs' outputs, the exported filesystem and the new image archive go.
    pub work_dir: PathBuf,
    /// How to prepare each run, given its output directory.
    pub prepare: &'a (dyn Fn(PathBuf) -> PrepareOptions + Sync),
    /// What to keep, and whether to prune unowned files.
    pub options: berth_minify::MinifyOptions,
    /// The new image's reference (default `berth-minified/<name>:<base id>`).
    pub tag: Option<String>,
}

/// One invocation to trace, and the tool it is for.
#[derive(Debug, Clone)]
pub struct Traced<'a> {
    /// How the user named the invocation (in messages and the report).
    pub name: String,
    /// The tool.
    pub descriptor: &'a Descriptor,
    /// The descriptor's text (recorded with each run).
    pub descriptor_text: &'a str,
    /// The invocation.
    pub invocation: berth_descriptor::Value,
}

/// One invocation's outputs, compared.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutputCheck {
    /// The invocation as named.
    pub invocation: String,
    /// The traced run on the original image.
    pub original_run: String,
    /// The run on the minified image.
    pub minified_run: String,
    /// `(output id, sha256)`: the same on both.
    pub outputs: Vec<(String, String)>,
}

/// What a minification made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MinifyOutcome {
    /// The new image's reference.
    pub reference: String,
    /// Its ID.
    pub image_id: String,
    /// Paths the runs accessed (successfully).
    pub accessed_paths: usize,
    /// What berth-minify did to the filesystem.
    pub report: berth_minify::ApplyReport,
    /// The output comparison, per invocation.
    pub checks: Vec<OutputCheck>,
}

/// The reference given to the minified `base` unless told otherwise.
pub fn minified_reference(base_reference: &str, base_id: &str) -> String {
    let updated = crate::update::updated_reference(base_reference, base_id, "0000-00-00");
    let name = updated.trim_start_matches("berth-updated/");
    let (name, tag) = name.split_once(':').unwrap_or((name, "latest"));
    format!("berth-minified/{name}:{}", tag.trim_end_matches("-00000000"))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MinifyRunError + '_ {
    move |source| MinifyRunError::Io { path: path.to_owned(), source }
}

/// Trace, minify, rebuild and verify.
pub async fn minify(
    req: &MinifyRequest<'_>,
    log: &(dyn Fn(&str) + Send + Sync),
) -> Result<MinifyOutcome, MinifyRunError> {
    let engine = req.runner.engine.clone();
    let image = req.image.as_str();
    let engine_err = |source| MinifyRunError::Engine { image: image.to_owned(), source };
    let base = engine
        .inspect_image(image)
        .await
        .map_err(engine_err)?
        .ok_or_else(|| MinifyRunError::NotFound { image: image.to_owned() })?;
    std::fs::create_dir_all(&req.work_dir).map_err(io(&req.work_dir))?;

    // 1. Each invocation, traced, on the original image.
    let mut accesses = Vec::new();
    let mut originals = Vec::new();
    for (n, traced) in req.invocations.iter().enumerate() {
        let name = &traced.name;
        log(&format!("tracing invocation {name}"));
        let out_dir = req.work_dir.join(format!("original-{n}"));
        // Traced as `berth run --trace` is: the trace is kept with the run.
        let mut job = prepare(req, traced, out_dir, &base.id)?;
        job.trace = Some(req.tracer.clone());
        let outcome = run(req, name, &job, "the original").await?;
        let recorded = berth_run::trace::of_run(req.runner.store, &outcome.run_id)
            .map_err(|source| MinifyRunError::Run { invocation: name.clone(), source: Box::new(source) })?;
        let trace = match recorded {
            Some(r) if r.record.complete => r.trace,
            _ => {
                return Err(MinifyRunError::IncompleteTrace {
                    invocation: name.clone(),
                    run_id: outcome.run_id.as_str().to_owned(),
                });
            }
        };
        accesses.extend(trace.accesses);
        originals.push((traced, outcome));
    }
    let trace: berth_minify::Trace = accesses.into_iter().collect();
    let accessed_paths = trace.succeeded().count();
    log(&format!("{accessed_paths} paths accessed"));

    // 2. The flattened filesystem, minified in place.
    let root = req.work_dir.join("rootfs");
    if root.exists() {
        std::fs::remove_dir_all(&root).map_err(io(&root))?;
    }
    export_filesystem(engine.as_ref(), &base, &req.work_dir.join("rootfs.tar"), &root).await.map_err(engine_err)?;
    let plan = berth_minify::plan(&root, &trace, &req.options)
        .map_err(|source| MinifyRunError::Minify { image: image.to_owned(), source })?;
    log(&format!("keeping {} packages, removing {}", plan.kept.len(), plan.removed.len()));
    let report = berth_minify::apply(&root, &plan)
        .map_err(|source| MinifyRunError::Minify { image: image.to_owned(), source })?;

    // 3. A single-layer image, configured as the original.
    let reference = match &req.tag {
        Some(t) => berth_engine::normalize_reference(t),
        None => minified_reference(image, &base.id),
    };
    let mut config = ImageConfig::of(&base);
    config.labels.insert(LABEL_BASE_ID.into(), base.id.clone());
    config.labels.insert(LABEL_BASE_REFERENCE.into(), image.to_owned());
    config.labels.insert(LABEL_KIND.into(), "minify".into());
    config.labels.insert(LABEL_MINIFY_MODE.into(), if req.options.minimal { "minimal" } else { "standard" }.into());
    config.labels.insert(LABEL_REPAIRABLE.into(), if plan.repairable() { "yes" } else { "no" }.into());
    if let Some(d) = base.repo_digests.first() {
        config.labels.insert(LABEL_BASE_DIGEST.into(), d.clone());
    }
    let archive = req.work_dir.join("minified.tar");
    write_docker_archive(&root, &base, &config, &reference, &archive)?;
    engine.load_image(&archive).await.map_err(engine_err)?;
    let made = engine
        .inspect_image(&reference)
        .await
        .map_err(engine_err)?
        .ok_or_else(|| MinifyRunError::NotFound { image: reference.clone() })?;
    let _ = std::fs::remove_file(&archive);
    let _ = std::fs::remove_file(req.work_dir.join("rootfs.tar"));

    // 4. Every invocation again, on the minified image: the same outputs, or nothing is kept.
    let mut checks = Vec::new();
    for (n, (traced, original)) in originals.iter().enumerate() {
        let name = &traced.name;
        log(&format!("checking invocation {name} on the minified image"));
        let out_dir = req.work_dir.join(format!("minified-{n}"));
        let job = prepare(req, traced, out_dir, &made.id)?;
        let again = match run(req, name, &job, "the minified").await {
            Ok(o) => o,
            Err(e) => {
                let _ = engine.remove_image(&reference, true).await;
                return Err(e);
            }
        };
        let before = hashes(&original.outputs)?;
        let after = hashes(&again.outputs)?;
        for (id, h) in &before {
            let other = after.get(id).cloned().unwrap_or_else(|| "missing".into());
            if &other != h {
                let _ = engine.remove_image(&reference, true).await;
                return Err(MinifyRunError::OutputChanged {
                    invocation: name.clone(),
                    output: id.clone(),
                    before: h.clone(),
                    after: other,
                });
            }
        }
        checks.push(OutputCheck {
            invocation: name.clone(),
            original_run: original.run_id.as_str().to_owned(),
            minified_run: again.run_id.as_str().to_owned(),
            outputs: before.into_iter().collect(),
        });
    }
    Ok(MinifyOutcome { reference, image_id: made.id, accessed_paths, report, checks })
}

fn prepare(
    req: &MinifyRequest<'_>,
    traced: &Traced<'_>,
    out_dir: PathBuf,
    image_id: &str,
) -> Result<berth_run::PreparedJob, MinifyRunError> {
    let name = traced.name.as_str();
    let options = (req.prepare)(out_dir);
    let mut job = berth_run::prepare(traced.descriptor, traced.descriptor_text, &traced.invocation, &options)
        .map_err(|e| MinifyRunError::Prepare { invocation: name.to_owned(), message: e.to_string() })?;
    job.image = image_id.to_owned();
    // The tracer goes before the program; the image's own entrypoint would be lost behind it.
    if let Exec::Entrypoint { args } = &job.exec {
        return Err(MinifyRunError::Prepare {
            invocation: name.to_owned(),
            message: format!(
                "the tool runs through the image's entrypoint with {args:?}; minify needs the descriptor to name the program (give it a `shell` or a command line starting with the program)"
            ),
        });
    }
    Ok(job)
}

async fn run(
    req: &MinifyRequest<'_>,
    name: &str,
    job: &berth_run::PreparedJob,
    which: &'static str,
) -> Result<RunOutcome, MinifyRunError> {
    let outcome = req
        .runner
        .run(job, CancellationToken::new())
        .await
        .map_err(|source| MinifyRunError::Run { invocation: name.to_owned(), source: Box::new(source) })?;
    if outcome.status != berth_store::RunStatus::Succeeded {
        return Err(MinifyRunError::RunFailed {
            invocation: name.to_owned(),
            which,
            run_id: outcome.run_id.as_str().to_owned(),
            why: outcome
                .error
                .clone()
                .unwrap_or_else(|| format!("exit code {}", outcome.exit_code.map_or("-".into(), |c| c.to_string()))),
        });
    }
    Ok(outcome)
}

/// sha256 of each output: a file's bytes, or for a directory every file's relative path and
/// bytes in path order.
fn hashes(outputs: &[(String, PathBuf)]) -> Result<BTreeMap<String, String>, MinifyRunError> {
    let mut out = BTreeMap::new();
    for (id, path) in outputs {
        let mut h = Sha256::new();
        hash_into(&mut h, path, path)?;
        out.insert(id.clone(), hex::encode(h.finalize()));
    }
    Ok(out)
}

fn hash_into(h: &mut Sha256, base: &Path, path: &Path) -> Result<(), MinifyRunError> {
    let meta = std::fs::symlink_metadata(path).map_err(io(path))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(path).map_err(io(path))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for e in entries {
            hash_into(h, base, &e)?;
        }
    } else {
        if path != base {
            h.update(path.strip_prefix(base).unwrap_or(path).to_string_lossy().as_bytes());
            h.update([0]);
        }
        if meta.file_type().is_symlink() {
            h.update(std::fs::read_link(path).map_err(io(path))?.to_string_lossy().as_bytes());
        } else {
            h.update(std::fs::read(path).map_err(io(path))?);
        }
    }
    Ok(())
}

/// Exports `base`'s flattened filesystem (a container created, never started) into `root`.
async fn export_filesystem(
    engine: &dyn Engine,
    base: &ImageInfo,
    tar_path: &Path,
    root: &Path,
) -> Result<(), EngineError> {
    let mut spec = ContainerSpec::new(base.id.clone(), vec!["/berth-minify-export".to_owned()]);
    spec.network = Network::Disabled;
    let created = engine.create_container(&spec).await?;
    let result: Result<(), EngineError> = async {
        let mut file = std::fs::File::create(tar_path).map_err(|e| EngineError::Protocol {
            operation: berth_engine::Operation::ExportContainer,
            problem: format!("{}: {e}", tar_path.display()),
        })?;
        let mut stream = engine.export_container(&created.id);
        while let Some(chunk) = stream.next().await {
            file.write_all(&chunk?).map_err(|e| EngineError::Protocol {
                operation: berth_engine::Operation::ExportContainer,
                problem: format!("{}: {e}", tar_path.display()),
            })?;
        }
        Ok(())
    }
    .await;
    let _ = engine.remove_container(&created.id, true).await;
    result?;
    let unpack = || -> std::io::Result<()> {
        std::fs::create_dir_all(root)?;
        let mut archive = tar::Archive::new(std::fs::File::open(tar_path)?);
        archive.set_preserve_permissions(true);
        archive.set_preserve_ownerships(true);
        archive.set_preserve_mtime(true);
        archive.set_overwrite(true);
        archive.unpack(root)
    };
    unpack().map_err(|e| EngineError::Protocol {
        operation: berth_engine::Operation::ExportContainer,
        problem: format!("unpacking {} into {}: {e}", tar_path.display(), root.display()),
    })
}

/// Writes a one-layer `docker save` archive of `root` with `config`, tagged `reference`.
///
/// Appends everything under `dir` (names relative to `root`, sorted, links not followed). A file
/// with several names is written once and its other names as hard links to the first, as the
/// base image's layers have them: copying each name (what `append_dir_all` does) made images
/// bigger than the ones they were minified from (Mesa's driver in an MRtrix3 image: one 25.8 MB
/// file with 13 names, 500 MB became 809 MB).
fn append_tree<W: Write>(
    builder: &mut tar::Builder<W>,
    root: &Path,
    dir: &Path,
    seen: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<(), MinifyRunError> {
    use std::os::unix::fs::MetadataExt;
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(io(dir))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for entry in entries {
        let name = entry.strip_prefix(root).unwrap_or(&entry).to_owned();
        let meta = std::fs::symlink_metadata(&entry).map_err(io(&entry))?;
        if meta.is_dir() {
            builder.append_dir(&name, &entry).map_err(io(&entry))?;
            append_tree(builder, root, &entry, seen)?;
            continue;
        }
        if meta.is_file() && meta.nlink() > 1 {
            if let Some(first) = seen.get(&(meta.dev(), meta.ino())) {
                let mut header = tar::Header::new_gnu();
                header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
                header.set_entry_type(tar::EntryType::Link);
                header.set_size(0);
                builder.append_link(&mut header, &name, first).map_err(io(&entry))?;
                continue;
            }
            seen.insert((meta.dev(), meta.ino()), name.clone());
        }
        builder.append_path_with_name(&entry, &name).map_err(io(&entry))?;
    }
    Ok(())
}

/// Written by hand: a docker-archive is three small JSON documents around one layer tar, and
/// the crates that write images (oci-client, ...) push to registries rather than to engines.
fn write_docker_archive(
    root: &Path,
    base: &ImageInfo,
    config: &ImageConfig,
    reference: &str,
    dest: &Path,
) -> Result<(), MinifyRunError> {
    let layer_path = dest.with_extension("layer.tar");
    {
        let file = std::fs::File::create(&layer_path).map_err(io(&layer_path))?;
        let mut builder = tar::Builder::new(std::io::BufWriter::new(file));
        builder.follow_symlinks(false);
        builder.mode(tar::HeaderMode::Complete);
        append_tree(&mut builder, root, root, &mut HashMap::new())?;
        builder.into_inner().and_then(|mut w| w.flush()).map_err(io(&layer_path))?;
    }
    let layer_sha = {
        let mut h = Sha256::new();
        let mut f = std::fs::File::open(&layer_path).map_err(io(&layer_path))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = std::io::Read::read(&mut f, &mut buf).map_err(io(&layer_path))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        hex::encode(h.finalize())
    };
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let image_config = serde_json::json!({
        "architecture": base.architecture.clone().unwrap_or_else(|| "amd64".into()),
        "os": base.os.clone().unwrap_or_else(|| "linux".into()),
        "created": now,
        "config": {
            "Entrypoint": config.entrypoint,
            "Cmd": config.cmd,
            "Env": config.env,
            "User": config.user.clone().unwrap_or_default(),
            "WorkingDir": config.working_dir.clone().unwrap_or_default(),
            "Labels": config.labels,
        },
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_sha}")]},
        "history": [{"created": now, "created_by": format!("berth harden minify {}", base.id)}],
    });
    let config_bytes = serde_json::to_vec(&image_config).unwrap_or_default();
    let config_sha = hex::encode(Sha256::digest(&config_bytes));
    let manifest = serde_json::json!([{
        "Config": format!("{config_sha}.json"),
        "RepoTags": [reference],
        "Layers": [format!("{layer_sha}/layer.tar")],
    }]);
    let tmp = dest.with_extension("partial");
    let write = || -> std::io::Result<()> {
        let mut out = tar::Builder::new(std::io::BufWriter::new(std::fs::File::create(&tmp)?));
        let mut add = |name: &str, bytes: &[u8]| {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            out.append_data(&mut header, name, bytes)
        };
        add(&format!("{config_sha}.json"), &config_bytes)?;
        add("manifest.json", &serde_json::to_vec(&manifest).unwrap_or_default())?;
        let mut header = tar::Header::new_gnu();
        let size = std::fs::metadata(&layer_path)?.len();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_cksum();
        out.append_data(&mut header, format!("{layer_sha}/layer.tar"), std::fs::File::open(&layer_path)?)?;
        out.into_inner()?.flush()?;
        std::fs::rename(&tmp, dest)
    };
    write().map_err(io(dest))?;
    let _ = std::fs::remove_file(&layer_path);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_file_with_several_names_is_written_once_and_linked() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("usr/lib/dri")).unwrap();
        std::fs::write(root.join("usr/lib/dri/radeonsi_dri.so"), vec![7u8; 100_000]).unwrap();
        for alias in ["iris_dri.so", "swrast_dri.so"] {
            std::fs::hard_link(root.join("usr/lib/dri/radeonsi_dri.so"), root.join("usr/lib/dri").join(alias)).unwrap();
        }
        std::os::unix::fs::symlink("dri/iris_dri.so", root.join("usr/lib/link")).unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        builder.follow_symlinks(false);
        append_tree(&mut builder, &root, &root, &mut HashMap::new()).unwrap();
        let bytes = builder.into_inner().unwrap();
        assert!(bytes.len() < 120_000, "the content is written once: {} bytes", bytes.len());
        let mut archive = tar::Archive::new(bytes.as_slice());
        let entries: Vec<(String, tar::EntryType, Option<String>)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let link = e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned());
                (e.path().unwrap().to_string_lossy().into_owned(), e.header().entry_type(), link)
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("usr".to_string(), tar::EntryType::Directory, None),
                ("usr/lib".to_string(), tar::EntryType::Directory, None),
                ("usr/lib/dri".to_string(), tar::EntryType::Directory, None),
                ("usr/lib/dri/iris_dri.so".to_string(), tar::EntryType::Regular, None),
                (
                    "usr/lib/dri/radeonsi_dri.so".to_string(),
                    tar::EntryType::Link,
                    Some("usr/lib/dri/iris_dri.so".into())
                ),
                ("usr/lib/dri/swrast_dri.so".to_string(), tar::EntryType::Link, Some("usr/lib/dri/iris_dri.so".into())),
                ("usr/lib/link".to_string(), tar::EntryType::Symlink, Some("dri/iris_dri.so".into())),
            ]
        );
    }
}
