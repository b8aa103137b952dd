//! Paths resolved inside the root filesystem (never on the host): merged-/usr directory
//! links, symlink chains, and the canonical form under which files are compared.
