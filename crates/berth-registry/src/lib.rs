//! Images away from the engine: references, registry credentials, the OCI distribution API,
//! image archives and their download — and the image operations built on them.
//!
//! - [`reference`](mod@reference): `[REGISTRY/]NAME[:TAG][@DIGEST]` parsed as Docker does.
//! - [`credentials`](mod@credentials): berth's own credentials file (written by `berth login`,
//!   mode 0600), then Docker's `config.json` and its credential helpers.
//! - [`client`](mod@client): [`RegistryClient`] — a tag's manifest digest without pulling, and
//!   login checks, with the distribution API's Bearer-token and Basic authentication; plain HTTP
//!   for loopback registries and for those configured insecure.
//! - [`download`](mod@download): resumable, digest-verified downloads (`Range`, a `.partial` file,
//!   rename when complete), with progress through a [`DownloadReporter`].
//! - [`archive`](mod@archive): docker-archive vs OCI archive, and OCI → docker-archive.
//! - [`netguard`](mod@netguard): the addresses a URL import may not reach (loopback, private,
//!   link-local, ...), checked after resolution and on redirects.
//! - [`images`](mod@images): `ls`, `check`, `pull`, `push`, `import`, `login` — what the
//!   `berth image` commands call.
//!
//! Errors are [`RegistryError`], with structured fields and [`RegistryError::hint`].
//! Pulls and pushes go through the engine ([`berth_engine::Engine`]); only `check`, `login` and
//! downloads talk to registries and web servers directly.

pub mod archive;
pub mod client;
pub mod credentials;
pub mod download;
pub mod error;
pub mod images;
pub mod netguard;
pub mod reference;

pub use client::{ClientOptions, RegistryClient, RemoteManifest};
pub use credentials::{Credential, CredentialSource, CredentialStore};
pub use download::{DownloadReporter, Downloaded, NoDownloadProgress};
pub use error::RegistryError;
pub use images::{CheckReport, CheckStatus, ImageRow, ImportOutcome, ImportSource};
pub use reference::Reference;
