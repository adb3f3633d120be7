use super::*;

#[tokio::test]
async fn slots_then_queue_then_refusal() {
    let admission = Admission::new(1, 1);
    let first = admission.admit(Duration::from_secs(1)).await.expect("a free slot");
    // The queue holds one: a second waits and gets the slot when the first is done.
    let waiter = admission.admit(Duration::from_secs(5));
    tokio::pin!(waiter);
    assert!(futures::poll!(waiter.as_mut()).is_pending());
    assert_eq!(admission.queued(), 1);
    // A third finds the queue full.
    let err = admission.admit(Duration::from_secs(1)).await.err().expect("queue full");
    assert_eq!(err.status().as_u16(), 429, "{err}");
    assert!(err.to_string().contains("max_queued"), "{err}");
    drop(first);
    let _second = waiter.await.expect("the slot passes on");
    assert_eq!(admission.queued(), 0);
}

#[tokio::test]
async fn waiting_too_long_is_a_429() {
    let admission = Admission::new(1, 4);
    let _held = admission.admit(Duration::from_secs(1)).await.expect("slot");
    let err = admission.admit(Duration::from_millis(20)).await.err().expect("times out in the queue");
    assert_eq!(err.status().as_u16(), 429);
    assert!(err.to_string().contains("waited 20 ms"), "{err}");
    assert_eq!(admission.queued(), 0, "the place in the queue is given back");
}
