//! Write generations: how the core's caches of derived state (parsed policies, built ACLs)
//! stay exact without locks.
//!
//! A store counts its completed writes. A reader notes the generation *before* it reads
//! storage and tags what it derives with it; a writer advances the generation only *after*
//! its write is durable. A cached value is used only while its tag is still the current
//! generation. So a value derived from data older than some finished write carries a tag
//! from before that write's advance and is never served again: a change applies to the very
//! next request, however the reads and writes interleave.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Generation(AtomicU64);

impl Generation {
    /// The tag for a value about to be derived from storage.
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Called once a write has reached storage: everything tagged before it is stale.
    pub fn advance(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}
