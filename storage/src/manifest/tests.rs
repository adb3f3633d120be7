use super::*;

fn entry(path: &str, rows: u64) -> FileEntry {
    FileEntry {
        path: path.into(),
        table: "spans".into(),
        tenant: "default".into(),
        partition_hour_unix: 1_699_999_200,
        min_time_ns: 1,
        max_time_ns: 2,
        rows,
        bytes: 100,
    }
}

#[test]
fn deltas_fold_into_the_live_set_across_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut m = Manifest::open(dir.path()).expect("open");
    assert_eq!(m.state(), &ManifestState::default());
    let d1 = m.publish(vec![entry("spans/a.parquet", 1), entry("spans/b.parquet", 2)], vec![], 3).expect("publish");
    assert_eq!(d1.version, 1);
    let d2 = m.publish(vec![entry("spans/c.parquet", 3)], vec!["spans/a.parquet".into()], 5).expect("publish");
    assert_eq!(d2.version, 2);
    assert!(dir.path().join("manifest/00000000000000000002.json").exists());

    // A stray temp file (crash mid-publish) is removed and ignored.
    fs::write(dir.path().join("manifest/00000000000000000003.json.tmp"), b"{ half").expect("write");
    let reopened = Manifest::open(dir.path()).expect("reopen");
    let state = reopened.state();
    assert_eq!(state.version, 2);
    assert_eq!(state.wal_checkpoint, 5);
    assert_eq!(state.files.keys().collect::<Vec<_>>(), vec!["spans/b.parquet", "spans/c.parquet"]);
    assert_eq!(state.files["spans/c.parquet"], entry("spans/c.parquet", 3));
    assert!(!dir.path().join("manifest/00000000000000000003.json.tmp").exists());
    assert_eq!(state, m.state());
}

#[test]
fn a_corrupt_delta_fails_open_instead_of_orphaning_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut m = Manifest::open(dir.path()).expect("open");
    m.publish(vec![entry("spans/a.parquet", 1)], vec![], 1).expect("publish");
    fs::write(dir.path().join("manifest/00000000000000000002.json"), b"{not json").expect("write");
    assert!(matches!(Manifest::open(dir.path()), Err(StorageError::Corrupt(_))));
}

#[test]
fn orphans_and_temp_files_are_removed_live_files_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let part = dir.path().join("spans/tenant=default/date=2023-11-14/hour=22");
    fs::create_dir_all(&part).expect("mkdir");
    for name in ["live.parquet", "orphan.parquet", "x.parquet.tmp", "notes.txt"] {
        fs::write(part.join(name), b"x").expect("write");
    }
    let live_path = "spans/tenant=default/date=2023-11-14/hour=22/live.parquet";
    let live: BTreeMap<String, FileEntry> = [(live_path.to_string(), entry(live_path, 1))].into_iter().collect();
    let removed = remove_orphans(dir.path(), &["spans", "logs"], &live).expect("clean");
    assert_eq!(removed, 2);
    assert!(part.join("live.parquet").exists());
    assert!(part.join("notes.txt").exists());
    assert!(!part.join("orphan.parquet").exists());
    assert!(!part.join("x.parquet.tmp").exists());
    assert_eq!(relative_path(dir.path(), &part.join("live.parquet")).as_deref(), Some(live_path));
}
