//! Operation ids (PROTOCOL §5, the Python scheme).
//!
//! Each context numbers its durable calls 1, 2, 3, … in program order. The raw
//! id is `"<n>"` at the root and `"<ownerId>-<n>"` inside a child context,
//! where `ownerId` is the already hashed id of the operation that owns the
//! context. The wire id is the first 64 hex characters of BLAKE2b-512 of the raw
//! id. Map and parallel items use their 0-based index in place of `n`.
//!
//! This scheme is part of the durable state of every execution in flight: it
//! must never change once released.

use blake2::{Blake2b512, Digest};

/// Hashes a raw id into its wire form.
pub fn hash_raw_id(raw: &str) -> String {
    hex_prefix(&Blake2b512::digest(raw.as_bytes()))
}

/// The first 32 bytes of a digest as 64 lowercase hex characters.
fn hex_prefix(digest: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(64);
    for byte in digest.iter().take(32) {
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    id
}

/// The id of the `position`-th durable call (1-based) in the context owned by
/// `parent` (`None` at the root).
pub fn operation_id(parent: Option<&str>, position: u64) -> String {
    // Hash the raw id `"<parent>-<position>"` in pieces: no string is built.
    let mut hasher = Blake2b512::new();
    if let Some(parent) = parent {
        hasher.update(parent.as_bytes());
        hasher.update(b"-");
    }
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = position;
    loop {
        at -= 1;
        // `rest % 10` is below 10, so the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        let digit = (rest % 10) as u8;
        digits[at] = b'0' + digit;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    hasher.update(&digits[at..]);
    hex_prefix(&hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from PROTOCOL §5, computed by the Python SDK's identifier module.
    const ID_1: &str = "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97";

    #[test]
    fn root_ids_match_the_python_vectors() {
        assert_eq!(operation_id(None, 1), ID_1);
        assert_eq!(
            operation_id(None, 2),
            "c5faca15ac2f93578b39ef4b6bbb871bdedce4ddd584fd31f0bb66fade3947e6"
        );
    }

    #[test]
    fn child_ids_match_the_python_vectors() {
        assert_eq!(
            operation_id(Some(ID_1), 1),
            "974bfc6321e227b0ff101342eaf19b336f002dc6cc99c18f0941a7755cc20fc4"
        );
        // Item 0 of a map whose operation is ID_1.
        assert_eq!(
            operation_id(Some(ID_1), 0),
            "1712f93e2f51df042e2b933907d75accfe34a48fe4a42a24e0b08131bc72d591"
        );
    }

    #[test]
    fn piecewise_hashing_equals_hashing_the_raw_id() {
        for position in [0, 1, 9, 10, 99, 12_345, u64::MAX] {
            assert_eq!(
                operation_id(None, position),
                hash_raw_id(&position.to_string())
            );
            assert_eq!(
                operation_id(Some(ID_1), position),
                hash_raw_id(&format!("{ID_1}-{position}"))
            );
        }
    }

    #[test]
    fn ids_are_64_lowercase_hex_characters() {
        let id = operation_id(Some("x"), 42);
        assert_eq!(id.len(), 64);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }
}
