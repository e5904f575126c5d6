//! Command dispatcher (in progress).
