//! A global allocator that counts live heap bytes, switched on only while a
//! memory figure is being taken.
//!
//! Counting costs a shared atomic add per allocation and per free. Left on
//! during the timing workloads, two workers hammering one counter would
//! slow the bare runtime and the tracked one alike and so flatter the
//! ratios; switched off, the allocator costs one relaxed load of a flag
//! that never changes while timing.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicBool, AtomicIsize, Ordering},
};

/// The system allocator, plus counters.
#[derive(Debug)]
pub(crate) struct CountingAlloc {
    enabled: AtomicBool,
    live: AtomicIsize,
    peak: AtomicIsize,
}

impl CountingAlloc {
    /// A counter that starts switched off.
    pub(crate) const fn new() -> Self {
        Self {
            enabled: AtomicBool::new(false),
            live: AtomicIsize::new(0),
            peak: AtomicIsize::new(0),
        }
    }

    /// Starts counting; returns a guard that stops counting when dropped.
    ///
    /// Only differences between two readings taken while the same guard is
    /// alive mean anything: memory freed now but allocated while counting
    /// was off makes the absolute figure drift.
    pub(crate) fn counting(&self) -> CountingGuard<'_> {
        self.enabled.store(true, Ordering::SeqCst);
        CountingGuard { alloc: self }
    }

    /// Bytes allocated and not yet freed, as counted.
    pub(crate) fn live(&self) -> isize {
        self.live.load(Ordering::SeqCst)
    }

    /// The highest [`live`](Self::live) since the last
    /// [`reset_peak`](Self::reset_peak).
    pub(crate) fn peak(&self) -> isize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Makes the current live figure the new peak.
    pub(crate) fn reset_peak(&self) {
        self.peak.store(self.live(), Ordering::SeqCst);
    }

    #[inline]
    fn record(&self, delta: isize) {
        if self.enabled.load(Ordering::Relaxed) {
            let now = self.live.fetch_add(delta, Ordering::Relaxed) + delta;
            if delta > 0 {
                self.peak.fetch_max(now, Ordering::Relaxed);
            }
        }
    }
}

impl Default for CountingAlloc {
    fn default() -> Self {
        Self::new()
    }
}

/// Keeps counting on; see [`CountingAlloc::counting`].
#[derive(Debug)]
pub(crate) struct CountingGuard<'a> {
    alloc: &'a CountingAlloc,
}

impl Drop for CountingGuard<'_> {
    fn drop(&mut self) {
        self.alloc.enabled.store(false, Ordering::SeqCst);
    }
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counters only observe sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours, forwarded.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            self.record(layout.size() as isize);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours, forwarded.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            self.record(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours, forwarded.
        unsafe { System.dealloc(ptr, layout) };
        self.record(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as ours, forwarded.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            self.record(new_size as isize - layout.size() as isize);
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 8).unwrap()
    }

    #[test]
    fn counts_only_while_enabled_and_tracks_peak() {
        // A private instance, not the global one, so the test harness's own
        // allocations do not disturb the figures.
        let alloc = CountingAlloc::new();
        // SAFETY: layouts are non-zero-sized; every block is freed with the
        // layout it was allocated with.
        unsafe {
            let before = alloc.alloc(layout(100));
            assert_eq!(alloc.live(), 0, "off by default");
            {
                let _on = alloc.counting();
                alloc.reset_peak();
                let a = alloc.alloc(layout(1000));
                let b = alloc.alloc_zeroed(layout(24));
                assert_eq!(alloc.live(), 1024);
                let a = alloc.realloc(a, layout(1000), 4000);
                assert_eq!(alloc.live(), 4024);
                alloc.dealloc(a, layout(4000));
                alloc.dealloc(b, layout(24));
                assert_eq!(alloc.live(), 0);
                assert_eq!(alloc.peak(), 4024);
            }
            let after = alloc.alloc(layout(64));
            assert_eq!(alloc.live(), 0, "off again once the guard is dropped");
            alloc.dealloc(before, layout(100));
            alloc.dealloc(after, layout(64));
        }
    }
}
