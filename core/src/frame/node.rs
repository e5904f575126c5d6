//! Frames as pinned intrusive tree nodes, and the per-task side table of
//! root frames.
//!
//! # How it stays sound
//!
//! * A [`Frame`] lives inside a pinned [`Framed`](super::Framed) future, so
//!   from its first poll until its `Drop` runs its address is stable. It is
//!   linked into a tree on its first poll and unlinked in `Drop` (or when
//!   its future completes), so a linked frame is always alive.
//! * Every tree belongs to one [`TaskFrames`]; its mutex guards the `links`
//!   of every frame in the tree and the list of root frames. Linking,
//!   unlinking and the monitor's walk all hold that lock, so the monitor
//!   never sees a half-linked node nor a node whose `Drop` has returned.
//!   The tree (and its lock) stays alive while any frame may still take
//!   the lock: roots hold an `Arc` of it, attached frames are covered by
//!   their ancestors, and a detached frame is given an `Arc` of its own.
//! * A frame that is unlinked while frames below it are still alive (a
//!   child future moved out of its parent and kept) *detaches* those
//!   children under the same lock: their `parent` is cleared and their
//!   own later unlink is a no-op for the tree above, and each gets its own
//!   reference to the tree. No frame ever keeps a pointer to a frame that
//!   may have been freed.
//! * The thread-local `ACTIVE` pointer names the frame whose poll is on this
//!   thread's stack; it is restored on the way out (panics included), so it
//!   only ever points to a frame that is alive and pinned.
//!
//! The owner-only part of a frame (`home`) is touched only by the thread
//! that polls or drops the future, which Rust's `&mut`/`Send` rules already
//! serialise.

use std::{cell::Cell, marker::PhantomPinned, panic::Location, ptr};

use rustc_hash::FxHashMap;

use super::sync::{Arc, Mutex, TreeLock, UnsafeCell, lock, lock_tree};
use crate::{TaskId, current_task};

/// One frame in a task's tree: what the monitor prints, the links that put
/// it in the tree, and (owner-only) which tree that is.
pub(crate) struct Frame {
    name: &'static str,
    location: &'static Location<'static>,
    /// Written and read only by the thread that owns the future.
    home: UnsafeCell<Home>,
    /// Guarded by the lock of the tree named in `home`.
    links: UnsafeCell<Links>,
    /// Guarded likewise: the reference that keeps the tree alive for a
    /// frame detached from its parent (see `unlink`).
    adopted: UnsafeCell<Option<Arc<TaskFrames>>>,
    /// Linked frames are pointed to by their neighbours: never move one.
    _pinned: PhantomPinned,
}

// SAFETY: `home` is only accessed by whoever owns the future (moving it to
// another thread moves that ownership); `links` and the raw pointers in it
// are only read or written while holding the tree's mutex. The `'static`
// name and location are immutable.
unsafe impl Send for Frame {}
// SAFETY: as above; a shared `&Frame` gives no access to `home` outside the
// owning thread's own poll and drop.
unsafe impl Sync for Frame {}

enum Home {
    /// Not polled yet: not in any tree, free to move.
    Unpolled,
    /// Polled outside any tracked task: nobody can ask for it.
    Untracked,
    /// A root of this tree; the `Arc` keeps the tree alive.
    Root(Arc<TaskFrames>),
    /// Below a parent in this tree, or detached from it. No reference
    /// count of its own (that would cost two locked instructions per
    /// marked call): while attached, its ancestors keep the tree alive;
    /// once detached, `adopted` does.
    Child(*const TaskFrames),
    /// Completed and unlinked.
    Done,
}

impl Home {
    fn tree(&self) -> Option<*const TaskFrames> {
        match self {
            Home::Root(task) => Some(Arc::as_ptr(task)),
            Home::Child(task) => Some(*task),
            _ => None,
        }
    }
}

#[derive(Clone, Copy)]
struct Links {
    /// `null` for a root (then `prev`/`next` run through the task's roots)
    /// and for a detached frame.
    parent: *const Frame,
    prev: *const Frame,
    next: *const Frame,
    /// Newest child first.
    first_child: *const Frame,
    /// Reachable from the task's roots.
    linked: bool,
}

impl Links {
    const UNLINKED: Links = Links {
        parent: ptr::null(),
        prev: ptr::null(),
        next: ptr::null(),
        first_child: ptr::null(),
        linked: false,
    };
}

/// The frame trees of one task: its root frames, under the lock that
/// guards every frame linked below them.
pub(crate) struct TaskFrames {
    id: TaskId,
    tree: TreeLock<Tree>,
}

pub(crate) struct Tree {
    /// Newest root first.
    first_root: *const Frame,
    /// Frames that took part in this tree and have not been unlinked yet;
    /// an upper bound on how many a walk can meet.
    frames: usize,
}

// SAFETY: the pointers are only dereferenced while the mutex around `Tree`
// is held (see the module documentation).
unsafe impl Send for Tree {}

impl TaskFrames {
    fn new(id: TaskId) -> Self {
        Self {
            id,
            tree: TreeLock::new(Tree {
                first_root: ptr::null(),
                frames: 0,
            }),
        }
    }
}

/// One entry of a walk: depth below the root, name, location.
pub(crate) type FlatFrame = (u32, &'static str, &'static Location<'static>);

/// The most frames one read copies out of a tree, so a task with a huge
/// `join_all` of framed futures cannot hold its lock for long.
pub(crate) const MAX_FRAMES_PER_READ: usize = 4096;

// ---- the side table: task id → its trees ----------------------------------

const SHARDS: usize = 32;

/// One shard on a cache line of its own, so root frames of different
/// tasks do not bounce each other's lock between cores.
#[repr(align(64))]
struct Shard(Mutex<FxHashMap<TaskId, Arc<TaskFrames>>>);

struct Table {
    shards: Box<[Shard]>,
}

impl Table {
    fn new() -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Shard(Mutex::new(FxHashMap::default())))
                .collect(),
        }
    }

    fn shard(&self, id: TaskId) -> &Mutex<FxHashMap<TaskId, Arc<TaskFrames>>> {
        &self.shards[(id.as_u64() % SHARDS as u64) as usize].0
    }
}

#[cfg(not(monitor_loom))]
fn table() -> &'static Table {
    static TABLE: std::sync::LazyLock<Table> = std::sync::LazyLock::new(Table::new);
    &TABLE
}

#[cfg(monitor_loom)]
fn table() -> &'static Table {
    loom::lazy_static! {
        static ref TABLE: Table = Table::new();
    }
    &TABLE
}

#[cfg(not(monitor_loom))]
std::thread_local! {
    /// The frame whose poll is running on this thread, innermost.
    static ACTIVE: Cell<*const Frame> = const { Cell::new(ptr::null()) };
}

#[cfg(monitor_loom)]
loom::thread_local! {
    static ACTIVE: Cell<*const Frame> = Cell::new(ptr::null());
}

/// Restores the previous `ACTIVE` frame when a poll returns or unwinds.
pub(crate) struct ActiveGuard {
    previous: *const Frame,
    frame: *const Frame,
}

impl Drop for ActiveGuard {
    #[inline]
    fn drop(&mut self) {
        let previous = self.previous;
        ACTIVE.with(|active| active.set(previous));
        if std::thread::panicking() {
            // SAFETY: the guard lives inside the frame's poll, so the frame
            // is alive and pinned; this thread owns it.
            unsafe { &*self.frame }.unwinding();
        }
    }
}

#[cfg(not(monitor_loom))]
std::thread_local! {
    /// The task whose tree was kept during the panic unwinding this
    /// thread, so only the innermost frame (which sees the whole tree,
    /// before unwinding drops the frames below its callers) keeps it.
    static KEPT_FOR_PANIC: Cell<Option<TaskId>> = const { Cell::new(None) };
}

#[cfg(monitor_loom)]
loom::thread_local! {
    static KEPT_FOR_PANIC: Cell<Option<TaskId>> = Cell::new(None);
}

// ---- frames ----------------------------------------------------------------

impl Frame {
    pub(crate) fn new(name: &'static str, location: &'static Location<'static>) -> Self {
        Self {
            name,
            location,
            home: UnsafeCell::new(Home::Unpolled),
            links: UnsafeCell::new(Links::UNLINKED),
            adopted: UnsafeCell::new(None),
            _pinned: PhantomPinned,
        }
    }

    /// Called by the owner at the start of every poll: links the frame on
    /// its first poll, then makes it the active frame of this thread until
    /// the guard drops.
    ///
    /// # Safety
    ///
    /// `self` is pinned: it stays at this address until its `Drop` runs.
    #[inline]
    pub(crate) unsafe fn enter(&self) -> ActiveGuard {
        // SAFETY: owner-only field, read by the owner.
        let unpolled = self
            .home
            .with(|home| matches!(unsafe { &*home }, Home::Unpolled));
        if unpolled {
            self.attach();
        }
        let me: *const Frame = self;
        ActiveGuard {
            previous: ACTIVE.with(|active| active.replace(me)),
            frame: me,
        }
    }

    /// A panic is unwinding through this frame's poll: the innermost frame
    /// keeps the task's whole tree for `where-terminated` before unwinding
    /// drops the frames it passes. Owner only.
    #[cold]
    #[inline(never)]
    fn unwinding(&self) {
        // SAFETY: owner-only field, read by the owner.
        let home = self.home.with(|home| match unsafe { &*home } {
            Home::Root(task) => Some((task.id, true)),
            // SAFETY: a frame in a tree keeps it alive (see `Home::Child`).
            Home::Child(task) => Some((unsafe { &**task }.id, false)),
            _ => None,
        });
        let Some((id, root)) = home else { return };
        if KEPT_FOR_PANIC.with(Cell::get) != Some(id) {
            let mut frames = Vec::new();
            read_task(id, &mut frames);
            if !frames.is_empty() {
                super::ended::keep_at_panic(id, frames);
            }
            KEPT_FOR_PANIC.with(|kept| kept.set(Some(id)));
        }
        if root {
            // The task's outermost marked call: the unwinding leaves it.
            KEPT_FOR_PANIC.with(|kept| kept.set(None));
        }
    }

    /// First poll: becomes a child of the frame being polled further up
    /// this thread's stack if that frame belongs to the same task, else a
    /// root of the current task. Outside any tracked task, stays untracked.
    fn attach(&self) {
        let Some(id) = current_task() else {
            self.set_home(Home::Untracked);
            return;
        };
        let parent = ACTIVE.with(Cell::get);
        if !parent.is_null() {
            // SAFETY: `ACTIVE` only names a frame whose poll is on this
            // thread's stack right now, so it is alive and pinned, and this
            // thread owns it for the duration of that poll.
            let parent = unsafe { &*parent };
            if let Some(tree) = parent.tree() {
                // SAFETY: `parent` is in that tree, which keeps it alive.
                let task = unsafe { &*tree };
                if task.id == id {
                    let mut guard = lock_tree(&task.tree);
                    // SAFETY: we hold the lock of the tree `parent` is in.
                    if unsafe { parent.links(&guard) }.linked {
                        // SAFETY: as above; `self` is pinned (see `enter`).
                        unsafe { self.link_below(parent, &mut guard) };
                        drop(guard);
                        self.set_home(Home::Child(tree));
                        return;
                    }
                    // The parent was detached (an ancestor was dropped
                    // while this future lived on): become a root instead,
                    // so the task still shows it.
                }
            }
        }
        let mut shard = lock(table().shard(id));
        let task = Arc::clone(
            shard
                .entry(id)
                .or_insert_with(|| Arc::new(TaskFrames::new(id))),
        );
        let mut tree = lock_tree(&task.tree);
        // SAFETY: we hold the tree's lock; `self` is pinned.
        unsafe { self.link_below(ptr::null(), &mut tree) };
        drop(tree);
        drop(shard);
        self.set_home(Home::Root(task));
    }

    /// The tree this frame took part in, if any. Owner only.
    fn tree(&self) -> Option<*const TaskFrames> {
        // SAFETY: owner-only field (for a parent in `attach`, this thread
        // owns it during its poll).
        self.home.with(|home| unsafe { &*home }.tree())
    }

    fn set_home(&self, new: Home) -> Home {
        // SAFETY: owner-only field, written by the owner; no reference into
        // it is alive across this call.
        self.home
            .with_mut(|home| std::mem::replace(unsafe { &mut *home }, new))
    }

    /// # Safety
    ///
    /// The caller holds the lock of the tree this frame is (or is being)
    /// linked in; `_tree` is that lock's data, taken as proof.
    unsafe fn links(&self, _tree: &Tree) -> Links {
        // SAFETY: guarded by the lock the caller holds.
        self.links.with(|links| unsafe { *links })
    }

    /// # Safety
    ///
    /// As [`Frame::links`].
    unsafe fn update(&self, _tree: &mut Tree, f: impl FnOnce(&mut Links)) {
        // SAFETY: guarded by the lock the caller holds.
        self.links.with_mut(|links| f(unsafe { &mut *links }))
    }

    /// Links `self` as the newest child of `parent`, or as the newest root
    /// when `parent` is null.
    ///
    /// # Safety
    ///
    /// The caller holds `tree`'s lock; `parent` (if not null) is linked in
    /// that tree; `self` is pinned and not linked anywhere.
    unsafe fn link_below(&self, parent: *const Frame, tree: &mut Tree) {
        let me: *const Frame = self;
        // SAFETY: every frame reached is linked in `tree`, hence alive,
        // and we hold its lock.
        unsafe {
            let first = if parent.is_null() {
                std::mem::replace(&mut tree.first_root, me)
            } else {
                let mut first = ptr::null();
                (*parent).update(tree, |links| {
                    first = std::mem::replace(&mut links.first_child, me);
                });
                first
            };
            if !first.is_null() {
                (*first).update(tree, |links| links.prev = me);
            }
            self.update(tree, |links| {
                *links = Links {
                    parent,
                    prev: ptr::null(),
                    next: first,
                    first_child: ptr::null(),
                    linked: true,
                }
            });
        }
        tree.frames += 1;
    }

    /// Takes `self` out of its tree and detaches its children, giving each
    /// a reference to `owner` (the tree) of its own. Returns `self`'s own
    /// such reference if it had been detached, for the caller to drop
    /// after unlocking.
    ///
    /// # Safety
    ///
    /// The caller holds `tree`'s lock, `owner` is the `TaskFrames` around
    /// it, and `self` took part in that tree (linked, or detached from it)
    /// and has not been unlinked before.
    unsafe fn unlink(&self, tree: &mut Tree, owner: *const TaskFrames) -> Option<Arc<TaskFrames>> {
        // SAFETY: neighbours reached through `links` are linked in `tree`
        // (a frame that leaves clears the pointers to it), hence alive; we
        // hold the lock.
        unsafe {
            let links = self.links(tree);
            if links.linked {
                if !links.prev.is_null() {
                    (*links.prev).update(tree, |prev| prev.next = links.next);
                } else if !links.parent.is_null() {
                    (*links.parent).update(tree, |parent| parent.first_child = links.next);
                } else {
                    tree.first_root = links.next;
                }
                if !links.next.is_null() {
                    (*links.next).update(tree, |next| next.prev = links.prev);
                }
            }
            let mut child = links.first_child;
            while !child.is_null() {
                let next = (*child).links(tree).next;
                (*child).update(tree, |links| {
                    *links = Links {
                        first_child: links.first_child,
                        ..Links::UNLINKED
                    }
                });
                // The child no longer has ancestors keeping the tree
                // alive: it gets a reference of its own. `owner` is alive
                // (we are in its tree) and came from `Arc::new`.
                Arc::increment_strong_count(owner);
                let keep = Arc::from_raw(owner);
                (*child).adopted.with_mut(|adopted| *adopted = Some(keep));
                child = next;
            }
            self.update(tree, |links| *links = Links::UNLINKED);
            tree.frames -= 1;
            self.adopted.with_mut(|adopted| (*adopted).take())
        }
    }

    /// The future completed: leave the tree now, so the monitor shows
    /// pending frames only. Owner only.
    pub(crate) fn complete(&self) {
        match self.set_home(Home::Done) {
            Home::Root(task) => self.leave_root(&task, false),
            Home::Child(task) => self.leave_child(task),
            _ => {}
        }
    }

    /// The future is dropped: leave the tree if still in it. When a root
    /// frame of a task is dropped from outside that task's poll (the task
    /// was cancelled, panicked, or dropped by its runtime), its tree is
    /// kept for `where-terminated`. Owner only.
    pub(crate) fn release(&self) {
        match self.set_home(Home::Done) {
            Home::Root(task) => {
                let ending = current_task() != Some(task.id);
                self.leave_root(&task, ending);
            }
            Home::Child(task) => self.leave_child(task),
            _ => {}
        }
        // Under loom, a last write to the links: any read the monitor made
        // of this frame that the unlink did not order before this point is
        // reported as a race, which is how the model checker sees a
        // use-after-free.
        #[cfg(monitor_loom)]
        self.links.with_mut(|_| ());
    }

    fn leave_child(&self, owner: *const TaskFrames) {
        // SAFETY: this frame is still in the tree (only it takes itself
        // out), so the tree is alive (see `Home::Child`).
        let task = unsafe { &*owner };
        let mut tree = lock_tree(&task.tree);
        // SAFETY: we hold the lock of the tree this frame took part in.
        let adopted = unsafe { self.unlink(&mut tree, owner) };
        drop(tree);
        // Possibly the tree's last reference: dropped after unlocking.
        drop(adopted);
    }

    fn leave_root(&self, task: &Arc<TaskFrames>, keep_tree: bool) {
        // A root may be the tree's last: remove the task's entry from the
        // table in the same critical section, so a root linked concurrently
        // never lands in a tree the table no longer lists (lock order: shard,
        // then tree, as in `attach`).
        let mut shard = lock(table().shard(task.id));
        let mut tree = lock_tree(&task.tree);
        let mut kept = Vec::new();
        if keep_tree {
            // SAFETY: we hold the tree's lock; `self` is linked in it.
            unsafe { walk_from(self, &tree, true, &mut kept) };
        }
        // SAFETY: as above. A root is never detached, so has no adopted
        // reference to return.
        let adopted = unsafe { self.unlink(&mut tree, Arc::as_ptr(task)) };
        let empty = tree.first_root.is_null();
        drop(tree);
        if empty
            && shard
                .get(&task.id)
                .is_some_and(|listed| Arc::ptr_eq(listed, task))
        {
            shard.remove(&task.id);
        }
        drop(shard);
        drop(adopted);
        if !kept.is_empty() {
            super::ended::keep(task.id, kept);
        }
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        self.release();
    }
}

/// Copies the pending frames of task `id` (roots first, depth-first), at
/// most [`MAX_FRAMES_PER_READ`]; `true` when some were left out.
///
/// Holds the table shard's lock only to find the task, and the task's own
/// lock only for the copy: the walk copies two pointers and a depth per
/// frame and allocates nothing once `out` has room.
pub(crate) fn read_task(id: TaskId, out: &mut Vec<FlatFrame>) -> bool {
    let Some(task) = lock(table().shard(id)).get(&id).map(Arc::clone) else {
        return false;
    };
    let tree = lock_tree(&task.tree);
    out.reserve(tree.frames.min(MAX_FRAMES_PER_READ));
    let first = tree.first_root;
    if first.is_null() {
        return false;
    }
    // SAFETY: we hold the lock; `first` is a linked root.
    unsafe { walk_from(first, &tree, false, out) }
}

/// Walks depth-first from `start` (and, unless `only_subtree`, the roots
/// after it), appending to `out` up to [`MAX_FRAMES_PER_READ`] frames.
/// Returns `true` when it stopped at that bound with frames left.
///
/// # Safety
///
/// The caller holds `tree`'s lock and `start` is linked in it.
unsafe fn walk_from(
    start: *const Frame,
    tree: &Tree,
    only_subtree: bool,
    out: &mut Vec<FlatFrame>,
) -> bool {
    let before = out.len();
    let mut node = start;
    let mut depth = 0u32;
    // SAFETY: every pointer followed is a link of a frame linked in
    // `tree`, which we hold the lock of, so it points to a live frame (see
    // the module documentation).
    unsafe {
        while !node.is_null() {
            if out.len() - before >= MAX_FRAMES_PER_READ {
                return true;
            }
            let frame = &*node;
            out.push((depth, frame.name, frame.location));
            let links = frame.links(tree);
            if !links.first_child.is_null() {
                node = links.first_child;
                depth += 1;
                continue;
            }
            // No children: the next sibling here or further up.
            let mut at = node;
            node = ptr::null();
            loop {
                if only_subtree && at == start {
                    break;
                }
                let links = (*at).links(tree);
                if !links.next.is_null() {
                    node = links.next;
                    break;
                }
                if links.parent.is_null() {
                    break;
                }
                at = links.parent;
                depth -= 1;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_small() {
        // name (2 words) + location + home (2 words) + links (5 words)
        // + adopted: what each marked call adds to its future's size.
        assert!(
            std::mem::size_of::<Frame>() <= 88,
            "{}",
            std::mem::size_of::<Frame>()
        );
    }
}
