//! Run futures concurrently, at most `limit` at a time, and return their outputs in input
//! order (so reports stay deterministic). One task polls them all: the work is waiting on the
//! database server and child processes, not CPU in this process.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use tokio::sync::Semaphore;

/// How many fixes to verify (or stairway segments to step) at once: the machine's cores (the
/// server and the child processes share them), at least one.
pub(crate) fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Each of `jobs` run to completion, at most `limit` at once, outputs in input order.
pub(crate) async fn in_order<F: Future>(jobs: Vec<F>, limit: usize) -> Vec<F::Output> {
    let gate = Semaphore::new(limit.max(1));
    let gate = &gate;
    let mut running: Vec<Pin<Box<_>>> = jobs
        .into_iter()
        .map(|job| {
            Box::pin(async move {
                let _permit = gate.acquire().await;
                job.await
            })
        })
        .collect();
    let mut out: Vec<Option<F::Output>> = running.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (job, slot) in running.iter_mut().zip(out.iter_mut()) {
            if slot.is_some() {
                continue;
            }
            match job.as_mut().poll(cx) {
                Poll::Ready(v) => *slot = Some(v),
                Poll::Pending => pending = true,
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn outputs_keep_the_input_order_whatever_finishes_first() {
        let jobs: Vec<_> = [30u64, 0, 10]
            .into_iter()
            .map(|ms| async move {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                ms
            })
            .collect();
        assert_eq!(in_order(jobs, 2).await, [30, 0, 10]);
    }

    #[tokio::test]
    async fn never_more_than_the_limit_at_once() {
        let now = std::sync::atomic::AtomicUsize::new(0);
        let peak = std::sync::atomic::AtomicUsize::new(0);
        let jobs: Vec<_> = (0..6)
            .map(|_| async {
                let n = now.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                peak.fetch_max(n, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                now.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            })
            .collect();
        in_order(jobs, 2).await;
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
