//! `handler`: the Functions custom handler and its commands. Everything is in the library; the CLI
//! (the only user of clap) is in `cli/`.

mod cli;

use std::process::ExitCode;

/// mimalloc: fewer instructions per allocation than glibc's, for the many small short-lived
/// allocations of each invocation (BENCHMARKS.md has the measurement).
#[global_allocator]
static ALLOCATOR: Mimalloc = Mimalloc;

/// mimalloc through its plain entry points whenever the alignment asked for is at most a word, which
/// every mimalloc block has: nearly every allocation. The `mimalloc` crate's allocator always calls
/// the aligned ones, which check and round the alignment on every call.
struct Mimalloc;

const WORD: usize = std::mem::size_of::<usize>();

// SAFETY: mimalloc's functions are thread-safe; a block from `mi_malloc` or `mi_malloc_aligned` is
// aligned as asked (word alignment for the plain ones) and is freed by `mi_free` either way.
unsafe impl std::alloc::GlobalAlloc for Mimalloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        use libmimalloc_sys::{mi_malloc, mi_malloc_aligned};
        if layout.align() <= WORD {
            mi_malloc(layout.size()).cast()
        } else {
            mi_malloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        use libmimalloc_sys::{mi_zalloc, mi_zalloc_aligned};
        if layout.align() <= WORD {
            mi_zalloc(layout.size()).cast()
        } else {
            mi_zalloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: std::alloc::Layout) {
        libmimalloc_sys::mi_free(ptr.cast());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        use libmimalloc_sys::{mi_realloc, mi_realloc_aligned};
        if layout.align() <= WORD {
            mi_realloc(ptr.cast(), new_size).cast()
        } else {
            mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
        }
    }
}

fn main() -> ExitCode {
    // With RUST_BACKTRACE=1 among the app settings, the storage SDK would capture a stack trace for an
    // error it builds and drops on every upload (+4 % CPU per event). Set before any thread starts.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    cli::run()
}
