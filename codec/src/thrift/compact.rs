//! PLACEHOLDER (being written): TCompactProtocol.
pub use super::binary::BinaryReader as CompactReader;
pub use super::binary::BinaryWriter as CompactWriter;
