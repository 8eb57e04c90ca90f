//! The C ABI: conversion, one panic boundary per function, status codes.
//! No engine logic lives here.
//!
//! Conventions (they hold for every `br_*` function):
//! - Strings are UTF-8 and NUL-terminated. Rich inputs (options) and results
//!   (reports) cross as JSON text.
//! - Every status-returning function returns a [`status::br_status`]; results go
//!   through out-pointers, which come last and are written **only on success**
//!   (on failure they are left untouched).
//! - A string the library returns through an out-pointer is owned by the
//!   caller and released with `br_string_free`. Static strings
//!   (`br_version`, `br_status_name`) and `br_last_error` are never freed.
//! - On failure the per-thread last error holds a message; on success it is
//!   cleared (see `br_last_error`).
//! - Long operations take a progress callback and a `void *userdata`; the
//!   callback only ever runs on the calling thread.
//! - Unknown keys in options JSON are rejected with `BR_STATUS_INVALID_JSON`.

// Exported functions take raw pointers without being `unsafe fn`: their
// contract is the header's, checked by the helpers in `ptr`.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

#[macro_use]
pub mod panic;
#[macro_use]
pub mod ptr;
pub mod error;
pub mod progress;
pub mod status;

mod archive;
mod backup;
mod compare;
mod config;
mod fingerprint;
mod history;
mod metrics;
mod notify;
mod schedule;
mod select;
mod version;

pub use metrics::br_exporter;

pub use error::{br_last_error, FfiError};
pub use progress::{br_progress, br_progress_fn};
pub use status::{br_status, br_status_name};
