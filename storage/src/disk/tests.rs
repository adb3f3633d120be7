use super::*;

#[test]
fn reports_free_space_and_refuses_below_the_reserve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = DiskSpace::new(dir.path().to_path_buf(), 1);
    let free = disk.free_bytes().expect("statvfs");
    assert!(free > 0);
    disk.check().expect("some space is free");

    let full = DiskSpace::new(dir.path().to_path_buf(), u64::MAX);
    match full.check() {
        Err(e @ StorageError::DiskFull { .. }) => assert!(e.retryable()),
        other => panic!("expected DiskFull, got {other:?}"),
    }
    let missing = DiskSpace::new(dir.path().join("missing"), 1);
    assert!(matches!(missing.check(), Err(StorageError::Io { .. })));
}
