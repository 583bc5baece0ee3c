//! A time limit on a future whose timer is armed only if the future has to wait.
//!
//! `tokio::time::timeout` reads the clock and looks up the runtime's timer when it is created.
//! A review's body has usually arrived whole by the time the handler runs, and the authorizer
//! of a dry run or a refused request is never asked, so most limits would be set up for
//! nothing. Here the deadline is taken at the first poll that finds the future not ready: the
//! limit then counts from that moment, a few microseconds after the work started, which no
//! limit measured in seconds can tell apart.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

/// `future`'s output, or `None` if it was still pending `limit` after it first had to wait.
pub(crate) async fn within<F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    // Unconstrained, like `tokio::time::timeout`'s own timer: a future that spends the task's
    // cooperative budget must not keep its limit from firing.
    let mut timer = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        let timer = timer
            .get_or_insert_with(|| Box::pin(tokio::task::unconstrained(tokio::time::sleep(limit))));
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_ready_future_needs_no_timer_and_a_waiting_one_is_cut_off() {
        assert_eq!(within(Duration::from_secs(1), async { 7 }).await, Some(7));
        // Ready after a wait shorter than the limit.
        let short = within(Duration::from_secs(5), async {
            tokio::time::sleep(Duration::from_secs(4)).await;
            "done"
        });
        assert_eq!(short.await, Some("done"));
        // Never ready: cut off at the limit, not before.
        let started = tokio::time::Instant::now();
        let never = within(Duration::from_secs(3), std::future::pending::<()>());
        assert_eq!(never.await, None);
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }

    #[test]
    fn a_ready_future_runs_outside_any_timer_context() {
        // No runtime, so no timer: only a future that must wait would need one.
        let ready = within(Duration::from_secs(1), async { 1 });
        assert_eq!(futures::executor::block_on(ready), Some(1));
    }
}
