//! The synchronisation primitives of the task hot path, swapped for loom's
//! model-checked ones under `--cfg monitor_loom` (see `core/tests/loom.rs`).
//!
//! Only what the poll, cancel, snapshot and retire paths share goes through
//! here; process-wide statics (the id counter, the clock) stay `std`, since
//! loom types cannot live in statics.

#[cfg(not(monitor_loom))]
pub(crate) use std::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, fence},
};

#[cfg(monitor_loom)]
pub(crate) use loom::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, fence},
};

/// `std::cell::UnsafeCell` with loom's closure-based access API, so the same
/// code compiles against both.
#[cfg(not(monitor_loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(monitor_loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    /// Calls `f` with a shared pointer to the value.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a mutable pointer to the value.
    #[inline]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(monitor_loom)]
pub(crate) use loom::cell::UnsafeCell;

/// Locks `mutex`, ignoring poisoning: every critical section of the task
/// paths leaves its data consistent at each step, so a panic inside one
/// (only possible in an allocation failure) cannot leave it half-written.
#[inline]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
