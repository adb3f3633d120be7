use osprey_storage::metric_points::PointScope;
use prost::Message as _;

use super::*;
use crate::metric_points::in_place_with;
use crate::metric_points::tests::padded_request;

/// A request converted again with the rows its first conversion kept makes no row, and gives
/// the same batch, counts and limit counts (under limits that cut and drop attributes).
#[test]
fn a_second_conversion_takes_every_row_kept_by_the_first() {
    let limits = LimitsConfig { max_attribute_value_bytes: 20, max_attributes_per_item: 1, ..Default::default() };
    let bytes = padded_request(2).encode_to_vec();
    let mut rows = SeriesRows::new(&limits);
    let first = in_place_with(&bytes, &limits, 0, &mut rows).unwrap_or_else(|_| panic!("first"));
    let made = rows.made;
    assert_eq!(made, 200, "a row per series (every point of this request is its own series)");
    let second = in_place_with(&bytes, &limits, 0, &mut rows).unwrap_or_else(|_| panic!("second"));
    assert_eq!(rows.made, made, "no row made again");
    assert_eq!(first.batch, second.batch);
    assert_eq!(first.limits, second.limits);
    assert_eq!((first.limits.truncated_values, first.limits.dropped_attributes), (200, 200));
    let fresh = in_place_with(&bytes, &limits, 0, &mut SeriesRows::new(&limits)).unwrap_or_else(|_| panic!("fresh"));
    assert_eq!(fresh.batch, second.batch);
}

/// A set that finds fewer than a quarter of its lookups keeps nothing for the next points,
/// then tries again; points whose attributes do not lie together are never kept.
#[test]
fn a_set_that_rarely_finds_its_rows_stops_keeping_them_for_a_while() {
    let limits = LimitsConfig::default();
    let mut limiter = Limiter::new(&limits);
    let scope = PointScope::new("svc", &[], None, None);
    let mut rows = SeriesRows::new(&limits);
    let make = |_: &mut Limiter<'_>| Ok(scope.series_row(&[]));
    assert!(rows.row(1, None, &mut limiter, make).expect("row").is_none());
    for i in 0..WINDOW - 1 {
        let kept = rows.row(1, Some(&i.to_le_bytes()), &mut limiter, make).expect("row");
        assert!(kept.is_some(), "lookup {i} keeps its row");
    }
    assert!(rows.row(1, Some(b"one more"), &mut limiter, make).expect("row").is_none());
    assert_eq!(rows.count, 0, "emptied at the end of a window without hits");
    for _ in 0..BYPASS {
        assert!(rows.row(1, Some(&0u32.to_le_bytes()), &mut limiter, make).expect("row").is_none());
    }
    let made = rows.made;
    for _ in 0..3 {
        assert!(rows.row(1, Some(b"again"), &mut limiter, make).expect("row").is_some());
    }
    assert_eq!(rows.made, made + 1, "kept again after the pause, and found");
}
