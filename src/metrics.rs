//! The metrics log (one JSON line per repository per run, the original's keys
//! kept) and Prometheus exposition rendered from it.
