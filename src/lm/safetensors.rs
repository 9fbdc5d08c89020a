//! A minimal safetensors reader/writer. Written here (not through burn's store) so the byte
//! layout is ours: tensors sorted by name, no `__metadata__`, header padded to 8 bytes with
//! spaces, f32 little-endian. Same weights therefore give the same file, and PyTorch's
//! `safetensors.torch.load_file` reads it.

use std::collections::BTreeMap;

use super::LmError;

/// One tensor in host memory, f32 whatever the file's dtype.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Parses a safetensors file (F32, BF16 or F16 tensors; converted to f32).
pub fn parse(bytes: &[u8], origin: &str) -> Result<BTreeMap<String, HostTensor>, LmError> {
    let err = |m: String| LmError::Weights(format!("{origin}: {m}"));
    if bytes.len() < 8 {
        return Err(err("shorter than the 8-byte header length".into()));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header = bytes
        .get(8..8usize.saturating_add(n))
        .ok_or_else(|| err(format!("header length {n} exceeds the file")))?;
    let data = &bytes[8 + n..];
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|e| err(format!("header is not JSON: {e}")))?;
    let mut out = BTreeMap::new();
    for (name, info) in header {
        if name == "__metadata__" {
            continue;
        }
        let dtype = info["dtype"]
            .as_str()
            .ok_or_else(|| err(format!("{name}: missing dtype")))?;
        let shape: Vec<usize> = serde_json::from_value(info["shape"].clone())
            .map_err(|e| err(format!("{name}: bad shape: {e}")))?;
        let offs: [usize; 2] = serde_json::from_value(info["data_offsets"].clone())
            .map_err(|e| err(format!("{name}: bad data_offsets: {e}")))?;
        let raw = data
            .get(offs[0]..offs[1])
            .ok_or_else(|| err(format!("{name}: data_offsets {offs:?} outside the file")))?;
        let numel = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| err(format!("{name}: shape {shape:?} overflows")))?;
        let width = match dtype {
            "F32" => 4,
            "BF16" | "F16" => 2,
            other => {
                return Err(err(format!(
                    "{name}: dtype {other}, expected F32, BF16 or F16"
                )));
            }
        };
        if Some(raw.len()) != numel.checked_mul(width) {
            return Err(err(format!(
                "{name}: {} bytes for shape {shape:?} of {dtype}",
                raw.len()
            )));
        }
        let values: Vec<f32> = match dtype {
            "F32" => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("chunk of 4")))
                .collect(),
            "BF16" => raw
                .chunks_exact(2)
                .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16))
                .collect(),
            _ => raw
                .chunks_exact(2)
                .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
        };
        out.insert(
            name,
            HostTensor {
                shape,
                data: values,
            },
        );
    }
    Ok(out)
}

/// Serialises f32 tensors, sorted by name, without metadata: deterministic bytes.
pub fn serialize(tensors: &BTreeMap<String, HostTensor>) -> Vec<u8> {
    let mut header = String::from("{");
    let mut offset = 0usize;
    for (i, (name, t)) in tensors.iter().enumerate() {
        let len = t.data.len() * 4;
        if i > 0 {
            header.push(',');
        }
        header.push_str(&format!(
            "{}:{{\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[{},{}]}}",
            serde_json::to_string(name).expect("a string serialises"),
            serde_json::to_string(&t.shape).expect("a shape serialises"),
            offset,
            offset + len
        ));
        offset += len;
    }
    header.push('}');
    while (8 + header.len()) % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for t in tensors.values() {
        for v in &t.data {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: value = f * 2^-24.
            let v = f as f32 * 2f32.powi(-24);
            return if sign != 0 { -v } else { v };
        }
        (31, 0) => sign | 0x7f80_0000,
        (31, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 112) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_determinism() {
        let mut m = BTreeMap::new();
        m.insert(
            "b".to_string(),
            HostTensor {
                shape: vec![2],
                data: vec![1.5, -2.0],
            },
        );
        m.insert(
            "a".to_string(),
            HostTensor {
                shape: vec![1, 3],
                data: vec![0.0, 1e-8, 3.0],
            },
        );
        let bytes = serialize(&m);
        assert_eq!(bytes, serialize(&m.clone()));
        assert_eq!(parse(&bytes, "t").unwrap(), m);
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!((8 + n) % 8, 0);
    }

    #[test]
    fn bf16_and_f16_decode() {
        // 1.0 in bf16 is 0x3f80; -2.0 in f16 is 0xc000.
        let header = br#"{"x":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]},"y":{"dtype":"F16","shape":[1],"data_offsets":[2,4]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(&0x3f80u16.to_le_bytes());
        bytes.extend_from_slice(&0xc000u16.to_le_bytes());
        let m = parse(&bytes, "t").unwrap();
        assert_eq!(m["x"].data, vec![1.0]);
        assert_eq!(m["y"].data, vec![-2.0]);
    }

    #[test]
    fn huge_shapes_are_errors_not_overflows() {
        let header =
            br#"{"x":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        assert!(parse(&bytes, "t").is_err());
    }

    #[test]
    fn truncated_files_are_errors() {
        assert!(parse(&[1, 0], "t").is_err());
        let header = br#"{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(&[0; 8]);
        let e = parse(&bytes, "w.safetensors").unwrap_err().to_string();
        assert!(e.contains("w.safetensors") && e.contains("x"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn serialize_parse_round_trip(
            tensors in proptest::collection::btree_map(
                "[a-z.0-9_]{1,12}",
                proptest::collection::vec(-1e6f32..1e6, 0..20),
                0..5,
            )
        ) {
            let m: BTreeMap<String, HostTensor> = tensors
                .into_iter()
                .map(|(k, data)| (k, HostTensor { shape: vec![data.len()], data }))
                .collect();
            let bytes = serialize(&m);
            proptest::prop_assert_eq!(parse(&bytes, "p").unwrap(), m);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = parse(&bytes, "p");
        }
    }
}
