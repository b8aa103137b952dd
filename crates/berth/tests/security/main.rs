//! The security suite (issue 14, `docs/security.md`): the real `berth` binary, the private Docker
//! daemon and Podman service, `berth serve` on loopback and the private one-node Slurm cluster,
//! against what a project member, a tool's content, the tool itself, another web origin, a
//! hostile image or archive, and another user of a shared file system could do. One module per
//! boundary; each test is named after the finding it pins (`finding_NN_…`, the numbering)
//! or the hole found beyond the list (`extra_…`), and each failed on the code before its fix.
//!
//! One test binary, not one per file: each of these links the whole of berth, and CI pays for
//! every link.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod archives;
mod inputs;
mod outdir;
mod publish_slurm;
mod server;
mod xnat;
