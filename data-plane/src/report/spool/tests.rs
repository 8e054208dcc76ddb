use super::*;

fn payloads(records: &[(RecordRef, Vec<u8>)]) -> Vec<String> {
    records
        .iter()
        .map(|(_, p)| String::from_utf8(p.clone()).unwrap())
        .collect()
}

#[test]
fn only_durable_records_are_read_and_acked_segments_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), 64 * 1024 * 1024).unwrap();
    spool.append(b"one").unwrap();
    spool.append(b"two").unwrap();
    assert!(
        spool.read(START, 10).unwrap().0.is_empty(),
        "not synced yet"
    );
    assert!(spool.sync().unwrap());
    assert!(!spool.sync().unwrap(), "nothing new");
    let (records, cursor) = spool.read(START, 10).unwrap();
    assert_eq!(payloads(&records), ["one", "two"]);
    assert_eq!(spool.depth(), 2);
    assert!(spool.read(cursor, 10).unwrap().0.is_empty());

    spool.ack(records[0].0);
    assert_eq!(spool.depth(), 1);
    assert_eq!(payloads(&spool.read(START, 10).unwrap().0), ["two"]);
    spool.ack(records[1].0);
    assert_eq!(spool.depth(), 0);
    let files = fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, 0, "a fully acknowledged segment is deleted");

    spool.append(b"three").unwrap();
    spool.sync().unwrap();
    assert_eq!(payloads(&spool.read(cursor, 10).unwrap().0), ["three"]);
}

#[test]
fn a_reopened_spool_resends_what_was_not_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut spool = Spool::open(dir.path(), 64 * 1024 * 1024).unwrap();
        for i in 0..5 {
            spool.append(format!("r{i}").as_bytes()).unwrap();
        }
        spool.sync().unwrap();
        let (records, _) = spool.read(START, 2).unwrap();
        spool.ack(records[0].0);
    }
    let spool = Spool::open(dir.path(), 64 * 1024 * 1024).unwrap();
    // Acks are not persisted: the control plane deduplicates by id.
    assert_eq!(
        payloads(&spool.read(START, 10).unwrap().0),
        ["r0", "r1", "r2", "r3", "r4"]
    );
}

#[test]
fn a_torn_tail_is_cut_at_the_last_intact_record() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut spool = Spool::open(dir.path(), 64 * 1024 * 1024).unwrap();
        spool.append(b"kept").unwrap();
        spool.append(b"torn").unwrap();
        spool.sync().unwrap();
    }
    let path = fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let len = fs::metadata(&path).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 2)
        .unwrap();
    let mut spool = Spool::open(dir.path(), 64 * 1024 * 1024).unwrap();
    assert_eq!(payloads(&spool.read(START, 10).unwrap().0), ["kept"]);
    spool.append(b"after").unwrap();
    spool.sync().unwrap();
    assert_eq!(
        payloads(&spool.read(START, 10).unwrap().0),
        ["kept", "after"]
    );
}

#[test]
fn a_full_spool_drops_its_oldest_segment_and_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), 256 * 1024).unwrap();
    let record = vec![b'x'; 1000];
    for _ in 0..600 {
        spool.append(&record).unwrap();
        spool.sync().unwrap();
    }
    assert!(spool.bytes() <= 256 * 1024 + 64 * 1024);
    let dropped = spool.take_dropped();
    assert!(dropped > 0);
    assert_eq!(spool.depth() + dropped, 600);
}
