//! Version comparison, dpkg's algorithm (also close enough for apk and rpm constraints).
