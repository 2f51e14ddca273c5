use super::part::Fnv;
use super::*;

#[test]
fn shard_specs_are_k_of_n_from_one() {
    let s = ShardSpec::parse("2/3").unwrap();
    assert_eq!((s.index(), s.count()), (2, 3));
    assert_eq!(s.to_string(), "2/3");
    for bad in ["0/3", "4/3", "1/0", "3", "a/b", "1/3/4", "-1/3"] {
        assert!(ShardSpec::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn blocks_are_dealt_in_snake_order_to_every_shard() {
    assert_eq!(shard_of_blocks(7, 3), vec![1, 2, 3, 3, 2, 1, 1]);
    assert_eq!(shard_of_blocks(3, 1), vec![1, 1, 1]);
    // Depends on nothing but the block count and N.
    assert_eq!(shard_of_blocks(5, 2), shard_of_blocks(5, 2));
}

#[test]
fn every_document_votes_in_one_shard() {
    let n = 3;
    let mut all: Vec<usize> = (1..=n)
        .flat_map(|k| shard_documents(8, ShardSpec::new(k, n).unwrap()))
        .collect();
    assert_eq!(
        shard_documents(8, ShardSpec::new(2, 3).unwrap()),
        vec![1, 4, 7]
    );
    all.sort_unstable();
    assert_eq!(all, (0..8).collect::<Vec<_>>());
}

#[test]
fn fingerprints_separate_fields() {
    let mut a = Fnv::new();
    a.bytes(b"ab");
    a.bytes(b"c");
    let mut b = Fnv::new();
    b.bytes(b"a");
    b.bytes(b"bc");
    assert_ne!(a.finish(), b.finish());
}
