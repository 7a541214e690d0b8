//! The `versa` binary's allocator ([`Allocator`]): mimalloc for the server, the system
//! allocator for the sandbox init. It lives here because it needs `unsafe` and because the
//! choice is whether this process is the sandbox init.
//!
//! The server's request paths allocate many small, short-lived buffers on several threads,
//! where glibc malloc's arena locks and fastbin consolidation cost about a tenth of its CPU per
//! warm invoke. The sandbox init is the same binary (`versa __sandbox-init`), started for every
//! environment: it allocates a few kilobytes, forks twice and `exec`s, so mimalloc's start-up
//! (its options read from the environment, its first segment reserved and committed inside a
//! fresh cgroup) would only add to every cold start.
//!
//! The choice is made once, before `main` and before any Rust code allocates: glibc calls the
//! functions of `.init_array` with `argc`/`argv`, and the standard library's own
//! argument capture works the same way. After that the flag never changes, so every block is
//! freed by the allocator that gave it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::{CStr, c_char, c_int};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set before `main` when this process is the sandbox init; never changed afterwards.
static SYSTEM_ONLY: AtomicBool = AtomicBool::new(false);

pub struct Allocator;

extern "C" fn choose(argc: c_int, argv: *const *const c_char, _envp: *const *const c_char) {
    if argc < 2 || argv.is_null() {
        return;
    }
    // SAFETY: glibc passes the process's argv (argc entries, each a NUL-terminated string)
    // to `.init_array` functions, as it does to `main`.
    let first = unsafe { *argv.add(1) };
    // SAFETY: as above, a non-null entry below `argc` is a NUL-terminated string.
    if !first.is_null() && unsafe { CStr::from_ptr(first) }.to_bytes() == crate::INIT_ARG.as_bytes() {
        SYSTEM_ONLY.store(true, Ordering::Relaxed);
    }
}

// JUSTIFICATION: the only hook that runs before the first allocation and sees argv.
#[used]
#[unsafe(link_section = ".init_array")]
static CHOOSE: extern "C" fn(c_int, *const *const c_char, *const *const c_char) = choose;

/// Whether this process allocates with the system allocator (the sandbox init).
fn system_only() -> bool {
    SYSTEM_ONLY.load(Ordering::Relaxed)
}

/// Checks, at the start of `main`, that the choice was made before it: `is_init` is whether
/// the first argument is [`crate::INIT_ARG`]. (The reference also keeps the `.init_array`
/// entry's object file in the link.)
pub fn check_choice(is_init: bool) {
    std::hint::black_box(&CHOOSE);
    assert_eq!(system_only(), is_init, "the allocator must be chosen before main");
}

// SAFETY: both allocators uphold `GlobalAlloc`'s contract, and a block always goes back to the
// one that gave it: the flag is fixed before the first allocation.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if system_only() {
            // SAFETY: the caller's contract, passed on.
            unsafe { System.alloc(layout) }
        } else {
            // SAFETY: the caller's contract, passed on.
            unsafe { mimalloc::MiMalloc.alloc(layout) }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if system_only() {
            // SAFETY: the caller's contract, passed on.
            unsafe { System.alloc_zeroed(layout) }
        } else {
            // SAFETY: the caller's contract, passed on.
            unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if system_only() {
            // SAFETY: `ptr` came from this allocator (the choice never changes).
            unsafe { System.dealloc(ptr, layout) }
        } else {
            // SAFETY: `ptr` came from this allocator (the choice never changes).
            unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if system_only() {
            // SAFETY: `ptr` came from this allocator (the choice never changes).
            unsafe { System.realloc(ptr, layout, new_size) }
        } else {
            // SAFETY: `ptr` came from this allocator (the choice never changes).
            unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
        }
    }
}
