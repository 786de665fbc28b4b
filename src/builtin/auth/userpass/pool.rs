//! A small fixed pool of threads for password hashing, with a short queue.
//!
//! One argon2id run with mainkey's parameters takes 19 MiB and tens of milliseconds. Run in
//! `spawn_blocking`, 64 concurrent logins (which need no token) became 64 threads with 19 MiB
//! each, and the allocator kept every thread's arena: 2.4 GB that never came back. Here at most
//! [`HashPool::threads`] hashes run at once, each on a long-lived thread that reuses its own
//! memory, so the memory hashing can take is fixed at start-up; at most [`HashPool::queue`]
//! more wait, and past that the caller is told to back off (429) at once, which costs nothing.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};

use crate::logical::Error;

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads and their queue.
pub struct HashPool {
    jobs: SyncSender<Job>,
    threads: usize,
    queue: usize,
}

impl HashPool {
    /// `threads` workers and room for `queue` waiting jobs.
    pub fn new(threads: usize, queue: usize) -> Result<Self, Error> {
        let threads = threads.max(1);
        let (jobs, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("mainkey-hash-{i}"))
                .spawn(move || worker(&rx))
                .map_err(|_| Error::internal("cannot start the password hashing threads"))?;
        }
        Ok(HashPool {
            jobs,
            threads,
            queue,
        })
    }

    /// The process's pool: half the cores (at least one, at most four), so hashing never
    /// takes every core from the request workers; a queue of 16 per thread, so a queued login
    /// waits well under a second.
    pub fn global() -> Result<&'static HashPool, Error> {
        static POOL: OnceLock<HashPool> = OnceLock::new();
        if let Some(pool) = POOL.get() {
            return Ok(pool);
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = (cores / 2).clamp(1, 4);
        let pool = HashPool::new(threads, 16 * threads)?;
        // Two first callers may race; the loser's threads exit when its channel is dropped.
        Ok(POOL.get_or_init(|| pool))
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    pub fn queue(&self) -> usize {
        self.queue
    }

    /// Runs `job` on a hashing thread and waits for it without blocking the async thread.
    /// With every thread busy and the queue full, fails at once with [`Error::RateLimited`].
    pub async fn run<T, F>(&self, job: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // A panic must not kill the thread (the pool would shrink); the waiting caller
            // sees its sender dropped instead.
            if let Ok(value) = catch_unwind(AssertUnwindSafe(job)) {
                let _ = tx.send(value);
            }
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(Error::RateLimited),
            Err(TrySendError::Disconnected(_)) => {
                return Err(Error::internal("the password hashing threads are gone"))
            }
        }
        rx.await
            .map_err(|_| Error::internal("password hashing failed"))
    }
}

fn worker(rx: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job, never while running one.
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn runs_jobs_and_returns_their_value() {
        let pool = HashPool::new(2, 4).unwrap();
        assert_eq!(pool.run(|| 6 * 7).await.unwrap(), 42);
    }

    #[tokio::test]
    async fn at_most_threads_run_and_past_the_queue_is_429() {
        let pool = Arc::new(HashPool::new(2, 3).unwrap());
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(100));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        let mut done = 0;
        let mut limited = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => done += 1,
                Err(Error::RateLimited) => limited += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        // Two running and three queued at most; the rest were refused at once.
        assert!((2..=5).contains(&done), "{done} ran");
        assert_eq!(done + limited, 20);
        assert!(limited >= 15);
        // Afterwards the pool serves again.
        assert_eq!(pool.run(|| 1).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_panicking_job_fails_its_caller_and_keeps_the_thread() {
        let pool = HashPool::new(1, 1).unwrap();
        let e = pool.run(|| -> u8 { panic!("boom") }).await.unwrap_err();
        assert!(matches!(e, Error::Internal(_)));
        assert_eq!(pool.run(|| 5).await.unwrap(), 5);
    }

    #[test]
    fn the_global_pool_is_small_and_fixed() {
        let pool = HashPool::global().unwrap();
        assert!((1..=4).contains(&pool.threads()));
        assert_eq!(pool.queue(), 16 * pool.threads());
        assert!(std::ptr::eq(pool, HashPool::global().unwrap()));
    }
}
