//! Benchmarks of hashing (`cargo xtask bench provenance`).

use crate::bench::{Figure, median_time};

/// sha256 throughput over 64 MiB.
pub fn bench_sha256() -> Vec<Figure> {
    let data = vec![0xA5u8; 64 << 20];
    let t = median_time(3, || {
        std::hint::black_box(super::Digest::of_bytes(&data));
    });
    vec![Figure {
        name: "sha256 throughput".into(),
        value: 64.0 / t.as_secs_f64(),
        unit: "MiB/s",
    }]
}
