//! Which packages stay: the accessed ones, the essential ones and the package manager, the
//! user's, and everything those depend on.
