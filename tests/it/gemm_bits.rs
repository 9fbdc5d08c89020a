//! burn's CPU matrix products run gemm's AVX-512 kernels where the CPU has them, and only where
//! those add every dot product in the AVX2 kernels' order (vendor/README.md, gemm-common). On an
//! AVX-512 machine this compares both kernels' bits on every path burn's matmul takes (the
//! blocked one with one and several depth blocks, edge tiles, transposed operands, batches, and
//! the small, matrix-vector and depth <= 2 shapes that stay on AVX2); elsewhere both runs take
//! the AVX2 kernels and the comparison only checks the switch. nextest runs each test in its own
//! process, so the global switch `gemm_common::force_x86_v3` is this test's alone.

use burn::tensor::{Device, Tensor, TensorData};

/// Reproducible values in [-1, 1) from a 64-bit seed (splitmix64).
fn values(seed: u64, len: usize) -> Vec<f32> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// `[batch, rows, cols]`, stored transposed when `transposed` (a strided view, as the backward
/// pass multiplies).
fn operand(seed: u64, batch: usize, rows: usize, cols: usize, transposed: bool) -> Tensor<3> {
    let device = Device::flex();
    let data = values(seed, batch * rows * cols);
    if transposed {
        Tensor::<3>::from_data(TensorData::new(data, [batch, cols, rows]), &device).swap_dims(1, 2)
    } else {
        Tensor::<3>::from_data(TensorData::new(data, [batch, rows, cols]), &device)
    }
}

fn bits(t: Tensor<3>) -> Vec<u32> {
    t.into_data()
        .try_to_vec::<f32>()
        .expect("a float tensor on the flex backend holds f32")
        .into_iter()
        .map(f32::to_bits)
        .collect()
}

#[test]
fn avx512_and_avx2_matrix_kernels_give_the_same_bits() {
    if !std::arch::is_x86_feature_detected!("avx512f") {
        eprintln!("no AVX-512 on this CPU: both runs take the AVX2 kernels");
    }
    // (batch, m, k, n): the mini model's projections and head (k = hidden), their weight
    // gradients (k = batch x seq, one depth block up to 1024, several beyond), attention per
    // head, edge tiles around the kernels' 16 / 64 rows and 6 columns, and shapes of the paths
    // that stay on AVX2 (m or n = 1, m x n <= 256, k <= 2).
    let shapes: &[(usize, usize, usize, usize)] = &[
        (1, 1024, 128, 352),
        (1, 1024, 128, 2048),
        (1, 128, 1024, 352),
        (1, 352, 1024, 128),
        (1, 128, 1025, 64),
        (1, 70, 2049, 33),
        (1, 100, 3000, 70),
        (8, 256, 32, 256),
        (8, 256, 256, 32),
        (1, 65, 63, 67),
        (1, 63, 700, 7),
        (3, 129, 513, 13),
        (1, 16, 16, 16),
        (1, 1, 300, 300),
        (1, 300, 300, 1),
        (4, 4, 128, 352),
        (1, 200, 2, 200),
        (1, 200, 1, 200),
        (1, 12, 40, 21),
    ];
    let mut differing = Vec::new();
    let mut seed = 0u64;
    for &(batch, m, k, n) in shapes {
        for (lhs_t, rhs_t) in [(false, false), (true, false), (false, true), (true, true)] {
            seed += 2;
            let lhs = operand(seed, batch, m, k, lhs_t);
            let rhs = operand(seed + 1, batch, k, n, rhs_t);
            gemm_common::force_x86_v3(false);
            let wide = bits(lhs.clone().matmul(rhs.clone()));
            gemm_common::force_x86_v3(true);
            let narrow = bits(lhs.matmul(rhs));
            gemm_common::force_x86_v3(false);
            assert_eq!(wide.len(), batch * m * n);
            let count = wide.iter().zip(&narrow).filter(|(a, b)| a != b).count();
            if count > 0 {
                differing.push(format!(
                    "[{batch}, {m}, {k}] x [{batch}, {k}, {n}] (lhs transposed {lhs_t}, rhs transposed {rhs_t}): {count} of {} elements",
                    wide.len()
                ));
            }
        }
    }
    assert!(
        differing.is_empty(),
        "AVX-512 and AVX2 products differ:\n{}",
        differing.join("\n")
    );
}

/// burn-flex no longer zeroes a product's output before gemm writes it (vendor/README.md): in
/// memory a freed product has just filled, a product on the unzeroed (blocked) path must equal a
/// plain sum everywhere, and one with no depth (a zeroed path) must be zeros.
#[test]
fn products_in_reused_memory_are_fully_written() {
    let device = Device::flex();
    for (batch, m, k, n) in [(1, 64, 16, 96), (3, 37, 5, 41), (8, 256, 32, 32)] {
        let filled = operand(7, batch, m, 16, false).matmul(operand(8, batch, 16, n, false));
        assert!(bits(filled).iter().any(|&b| b != 0));
        let (a, b) = (values(9, batch * m * k), values(10, batch * k * n));
        let lhs = Tensor::<3>::from_data(TensorData::new(a.clone(), [batch, m, k]), &device);
        let rhs = Tensor::<3>::from_data(TensorData::new(b.clone(), [batch, k, n]), &device);
        let got: Vec<f32> = bits(lhs.matmul(rhs))
            .into_iter()
            .map(f32::from_bits)
            .collect();
        for p in 0..batch {
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k)
                        .map(|d| a[(p * m + i) * k + d] as f64 * b[(p * k + d) * n + j] as f64)
                        .sum();
                    let g = got[(p * m + i) * n + j] as f64;
                    assert!(
                        (g - want).abs() <= 1e-4,
                        "[{batch}, {m}, {k}] x [{batch}, {k}, {n}] at ({p}, {i}, {j}): {g} vs {want}"
                    );
                }
            }
        }
        let filled = operand(11, batch, m, 16, false).matmul(operand(12, batch, 16, n, false));
        assert!(bits(filled).iter().any(|&b| b != 0));
        let lhs =
            Tensor::<3>::from_data(TensorData::new(Vec::<f32>::new(), [batch, m, 0]), &device);
        let rhs =
            Tensor::<3>::from_data(TensorData::new(Vec::<f32>::new(), [batch, 0, n]), &device);
        let product = bits(lhs.matmul(rhs));
        assert_eq!(product.len(), batch * m * n);
        assert!(
            product.iter().all(|&b| b == 0),
            "[{batch}, {m}, 0] x [{batch}, 0, {n}] is not all +0.0"
        );
    }
}
