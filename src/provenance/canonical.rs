//! Canonical byte encoding of any serde value, for hashing.
//!
//! The encoding is compact JSON with every map's keys sorted (struct fields included, so field
//! order in the Rust source never matters), floats in shortest round-trip form (ryu, as
//! serde_json prints them), integers as integers, and NaN/±inf rejected. Because it is JSON, a
//! canonical encoding deserialises back into the value it came from. Golden tests pin the
//! digests of a few fixed values: changing this module changes every digest in every store.

use std::collections::BTreeMap;

use serde::ser::{self, Serialize};

use super::Digest;

/// Why a value has no canonical encoding.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CanonicalError {
    #[error("non-finite float {0} has no canonical encoding (NaN and infinities are rejected)")]
    NonFinite(f64),
    #[error("map key must encode to a string, number or bool, got {0}")]
    BadKey(&'static str),
    #[error("{0}")]
    Custom(String),
}

impl ser::Error for CanonicalError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        CanonicalError::Custom(msg.to_string())
    }
}

/// The canonical bytes of `value`.
pub fn to_canonical_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    let node = value.serialize(NodeSerializer)?;
    let mut out = Vec::new();
    node.write(&mut out);
    Ok(out)
}

/// The digest of the canonical bytes of `value`.
pub fn digest_of<T: Serialize + ?Sized>(value: &T) -> Result<Digest, CanonicalError> {
    Ok(Digest::of_bytes(&to_canonical_bytes(value)?))
}

/// An intermediate tree; maps are kept sorted by their (already encoded) key string.
enum Node {
    Null,
    Bool(bool),
    /// Integers and finite floats, already formatted.
    Number(String),
    Str(String),
    Seq(Vec<Node>),
    Map(BTreeMap<String, Node>),
}

impl Node {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Node::Null => out.extend_from_slice(b"null"),
            Node::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Node::Number(n) => out.extend_from_slice(n.as_bytes()),
            Node::Str(s) => write_str(s, out),
            Node::Seq(items) => {
                out.push(b'[');
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    it.write(out);
                }
                out.push(b']');
            }
            Node::Map(m) => {
                out.push(b'{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(k, out);
                    out.push(b':');
                    v.write(out);
                }
                out.push(b'}');
            }
        }
    }
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    // serde_json's string escaping is deterministic and standard.
    serde_json::to_writer(&mut *out, s).expect("writing a str into a Vec cannot fail");
}

fn float(v: f64) -> Result<Node, CanonicalError> {
    if !v.is_finite() {
        return Err(CanonicalError::NonFinite(v));
    }
    // serde_json formats finite f64 with ryu (shortest round-trip), always with a '.' or 'e'
    // so that a float never reads back as an integer.
    Ok(Node::Number(
        serde_json::to_string(&v).expect("a finite f64 always serialises"),
    ))
}

struct NodeSerializer;

macro_rules! int_fns {
    ($($f:ident: $t:ty),*) => {$(
        fn $f(self, v: $t) -> Result<Node, CanonicalError> { Ok(Node::Number(v.to_string())) }
    )*};
}

impl ser::Serializer for NodeSerializer {
    type Ok = Node;
    type Error = CanonicalError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = VariantBuilder<SeqBuilder>;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = VariantBuilder<MapBuilder>;

    int_fns!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128);

    fn serialize_bool(self, v: bool) -> Result<Node, CanonicalError> {
        Ok(Node::Bool(v))
    }
    fn serialize_f32(self, v: f32) -> Result<Node, CanonicalError> {
        // Widen exactly; the f64 text reads back as the same f32.
        float(v as f64)
    }
    fn serialize_f64(self, v: f64) -> Result<Node, CanonicalError> {
        float(v)
    }
    fn serialize_char(self, v: char) -> Result<Node, CanonicalError> {
        Ok(Node::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Node, CanonicalError> {
        Ok(Node::Str(v.to_string()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Node, CanonicalError> {
        Ok(Node::Seq(
            v.iter().map(|b| Node::Number(b.to_string())).collect(),
        ))
    }
    fn serialize_none(self) -> Result<Node, CanonicalError> {
        Ok(Node::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<Node, CanonicalError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<Node, CanonicalError> {
        Ok(Node::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Node, CanonicalError> {
        Ok(Node::Null)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Node, CanonicalError> {
        Ok(Node::Str(variant.to_string()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<Node, CanonicalError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<Node, CanonicalError> {
        let mut m = BTreeMap::new();
        m.insert(variant.to_string(), v.serialize(NodeSerializer)?);
        Ok(Node::Map(m))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, CanonicalError> {
        Ok(SeqBuilder(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, CanonicalError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, CanonicalError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantBuilder<SeqBuilder>, CanonicalError> {
        Ok(VariantBuilder {
            variant,
            inner: SeqBuilder(Vec::with_capacity(len)),
        })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapBuilder, CanonicalError> {
        Ok(MapBuilder::default())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<MapBuilder, CanonicalError> {
        Ok(MapBuilder::default())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<VariantBuilder<MapBuilder>, CanonicalError> {
        Ok(VariantBuilder {
            variant,
            inner: MapBuilder::default(),
        })
    }
}

struct SeqBuilder(Vec<Node>);

impl SeqBuilder {
    fn push<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), CanonicalError> {
        self.0.push(v.serialize(NodeSerializer)?);
        Ok(())
    }
}

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Node;
    type Error = CanonicalError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), CanonicalError> {
        self.push(v)
    }
    fn end(self) -> Result<Node, CanonicalError> {
        Ok(Node::Seq(self.0))
    }
}
impl ser::SerializeTuple for SeqBuilder {
    type Ok = Node;
    type Error = CanonicalError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), CanonicalError> {
        self.push(v)
    }
    fn end(self) -> Result<Node, CanonicalError> {
        Ok(Node::Seq(self.0))
    }
}
impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Node;
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), CanonicalError> {
        self.push(v)
    }
    fn end(self) -> Result<Node, CanonicalError> {
        Ok(Node::Seq(self.0))
    }
}

#[derive(Default)]
struct MapBuilder {
    map: BTreeMap<String, Node>,
    pending_key: Option<String>,
}

fn key_string(node: Node) -> Result<String, CanonicalError> {
    match node {
        Node::Str(s) | Node::Number(s) => Ok(s),
        Node::Bool(b) => Ok(b.to_string()),
        Node::Null => Err(CanonicalError::BadKey("null")),
        Node::Seq(_) => Err(CanonicalError::BadKey("a sequence")),
        Node::Map(_) => Err(CanonicalError::BadKey("a map")),
    }
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Node;
    type Error = CanonicalError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), CanonicalError> {
        self.pending_key = Some(key_string(k.serialize(NodeSerializer)?)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), CanonicalError> {
        let key = self
            .pending_key
            .take()
            .ok_or_else(|| CanonicalError::Custom("map value without a key".into()))?;
        self.map.insert(key, v.serialize(NodeSerializer)?);
        Ok(())
    }
    fn end(self) -> Result<Node, CanonicalError> {
        Ok(Node::Map(self.map))
    }
}
impl ser::SerializeStruct for MapBuilder {
    type Ok = Node;
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), CanonicalError> {
        self.map
            .insert(key.to_string(), v.serialize(NodeSerializer)?);
        Ok(())
    }
    fn end(self) -> Result<Node, CanonicalError> {
        Ok(Node::Map(self.map))
    }
}

struct VariantBuilder<I> {
    variant: &'static str,
    inner: I,
}

impl VariantBuilder<SeqBuilder> {
    fn finish(self) -> Node {
        let mut m = BTreeMap::new();
        m.insert(self.variant.to_string(), Node::Seq(self.inner.0));
        Node::Map(m)
    }
}
impl VariantBuilder<MapBuilder> {
    fn finish(self) -> Node {
        let mut m = BTreeMap::new();
        m.insert(self.variant.to_string(), Node::Map(self.inner.map));
        Node::Map(m)
    }
}

impl ser::SerializeTupleVariant for VariantBuilder<SeqBuilder> {
    type Ok = Node;
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), CanonicalError> {
        self.inner.push(v)
    }
    fn end(self) -> Result<Node, CanonicalError> {
        Ok(self.finish())
    }
}
impl ser::SerializeStructVariant for VariantBuilder<MapBuilder> {
    type Ok = Node;
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), CanonicalError> {
        ser::SerializeStruct::serialize_field(&mut self.inner, key, v)
    }
    fn end(self) -> Result<Node, CanonicalError> {
        Ok(self.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};
    use std::collections::HashMap;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Sample {
        zeta: u32,
        alpha: f64,
        name: String,
        tags: Vec<String>,
        kind: Kind,
        opt: Option<i64>,
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    enum Kind {
        Plain,
        Scaled { by: f64 },
    }

    fn sample() -> Sample {
        Sample {
            zeta: 7,
            alpha: 0.1,
            name: "mini \"profile\"".into(),
            tags: vec!["a".into(), "b".into()],
            kind: Kind::Scaled { by: 1e-7 },
            opt: None,
        }
    }

    #[test]
    fn fields_are_sorted_and_floats_shortest() {
        let bytes = to_canonical_bytes(&sample()).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"alpha":0.1,"kind":{"Scaled":{"by":1e-7}},"name":"mini \"profile\"","opt":null,"tags":["a","b"],"zeta":7}"#
        );
    }

    /// Golden digests: a change here changes every digest in every store. Update only on
    /// purpose, and say so in the changelog of the commit.
    #[test]
    fn golden_digests() {
        assert_eq!(
            digest_of(&sample()).unwrap().to_hex(),
            "61e59266993b05bc4b8f4b83f6b330bc847c81114c70b592ea79b7e4a177f6cc"
        );
        assert_eq!(
            digest_of(&1.0f64).unwrap().to_hex(),
            Digest::of_bytes(b"1.0").to_hex()
        );
        assert_eq!(
            digest_of(&Vec::<u8>::new()).unwrap(),
            Digest::of_bytes(b"[]")
        );
    }

    #[test]
    fn round_trips_through_json() {
        let bytes = to_canonical_bytes(&sample()).unwrap();
        let back: Sample = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn rejects_non_finite() {
        assert_eq!(
            to_canonical_bytes(&f64::NAN).unwrap_err().to_string(),
            "non-finite float NaN has no canonical encoding (NaN and infinities are rejected)"
        );
        assert!(to_canonical_bytes(&vec![1.0, f64::INFINITY]).is_err());
    }

    #[test]
    fn map_order_is_irrelevant() {
        let mut a = HashMap::new();
        let mut b = HashMap::new();
        for i in 0..50 {
            a.insert(format!("k{i}"), i);
        }
        for i in (0..50).rev() {
            b.insert(format!("k{i}"), i);
        }
        assert_eq!(digest_of(&a).unwrap(), digest_of(&b).unwrap());
    }
}
