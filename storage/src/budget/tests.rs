use super::*;

#[test]
fn permits_hold_bytes_until_dropped() {
    let budget = Arc::new(Budget::new(100));
    let a = budget.reserve(60).expect("fits");
    assert_eq!(budget.in_flight(), 60);
    match budget.reserve(41) {
        Err(e @ StorageError::MemoryBudget { in_use: 60, budget: 100 }) => assert!(e.retryable()),
        other => panic!("expected MemoryBudget, got {other:?}"),
    }
    let b = budget.reserve(40).expect("exactly fits");
    assert_eq!(b.bytes(), 40);
    drop(a);
    assert_eq!(budget.in_flight(), 40);
    drop(b);
    assert_eq!(budget.in_flight(), 0);
}

#[test]
fn memtable_bytes_count_against_the_budget() {
    let budget = Arc::new(Budget::new(100));
    budget.add_memtable(90);
    assert!(matches!(budget.reserve(11), Err(StorageError::MemoryBudget { in_use: 90, .. })));
    let _p = budget.reserve(10).expect("fits");
    budget.sub_memtable(1000);
    assert_eq!(budget.memtable(), 0);
    budget.reserve(90).expect("fits after the flush");
}

#[test]
fn derived_state_counts_against_the_budget() {
    let budget = Arc::new(Budget::new(100));
    budget.add_memtable(50);
    budget.set_derived(30);
    assert!(matches!(budget.reserve(21), Err(StorageError::MemoryBudget { in_use: 80, .. })));
    let _p = budget.reserve(20).expect("fits");
    // Set, not added: each flush states the size anew.
    budget.set_derived(10);
    assert_eq!(budget.derived(), 10);
    budget.reserve(20).expect("fits once the state shrank");
}

#[test]
fn a_flush_holds_its_working_memory_until_it_ends_and_is_never_refused() {
    let budget = Arc::new(Budget::new(100));
    budget.add_memtable(60);
    let hold = budget.hold_for_flush(30);
    assert_eq!(budget.flushing(), 30);
    assert!(matches!(budget.reserve(11), Err(StorageError::MemoryBudget { in_use: 90, .. })));
    // Past the limit: the flush is what frees memory.
    let second = budget.hold_for_flush(50);
    assert_eq!(budget.flushing(), 80);
    drop((hold, second));
    assert_eq!(budget.flushing(), 0);
    budget.reserve(40).expect("fits once the flush is done");
}
