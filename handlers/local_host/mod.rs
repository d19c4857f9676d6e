//! Local host.
