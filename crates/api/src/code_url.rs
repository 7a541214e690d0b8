//! Signed, expiring URLs for `GetFunction`'s `Code.Location`, in the spirit of S3 presigned
//! URLs: anyone holding the URL may download that package until it expires.

use sha2::{Digest, Sha256};

/// How long a code URL stays valid (Lambda's presigned URLs last 10 minutes).
pub(crate) const CODE_URL_TTL_MS: i64 = 10 * 60 * 1000;

/// Signs and checks code URLs: with a per-process random key, or with the key every node shares
/// through the store (`cluster_settings`), so a URL from one node downloads from any.
pub(crate) struct Signer {
    key: [u8; 32],
}

impl Signer {
    /// A signer with `key` (its SHA-256 when it is not 32 bytes long).
    pub(crate) fn with_key(key: &[u8]) -> Signer {
        let mut k = [0u8; 32];
        if key.len() == 32 {
            k.copy_from_slice(key);
        } else {
            k.copy_from_slice(&Sha256::digest(key));
        }
        Signer { key: k }
    }

    pub(crate) fn random() -> Signer {
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Signer { key }
    }

    pub(crate) fn sign(&self, account: &str, sha_hex: &str, expires_ms: i64) -> String {
        stdx::hex::encode(&hmac_sha256(&self.key, format!("{account}\n{sha_hex}\n{expires_ms}").as_bytes()))
    }

    /// Whether `signature` is valid for these parts and `expires_ms` is still in the future.
    pub(crate) fn verify(&self, account: &str, sha_hex: &str, expires_ms: i64, signature: &str, now_ms: i64) -> bool {
        let expected = self.sign(account, sha_hex, expires_ms);
        // Compare without an early exit, so timing says nothing about the signature.
        let same = expected.len() == signature.len()
            && expected.bytes().zip(signature.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        same && now_ms <= expires_ms
    }
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for (i, k) in key.iter().enumerate() {
        ipad[i] ^= k;
        opad[i] ^= k;
    }
    let inner = Sha256::new().chain_update(ipad).chain_update(message).finalize();
    let outer = Sha256::new().chain_update(opad).chain_update(inner).finalize();
    let mut out = [0u8; 32];
    out.copy_from_slice(&outer);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_shape() {
        // RFC 4231 test case 2 uses a short key; ours is always 32 bytes, so check a known value
        // computed for a 32-byte key of 0x0b.
        let key = [0x0bu8; 32];
        let mac = hmac_sha256(&key, b"Hi There");
        assert_eq!(stdx::hex::encode(&mac), "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7");
    }

    #[test]
    fn signatures_expire_and_bind_their_parts() {
        let s = Signer::random();
        let sig = s.sign("000000000000", "ab", 1000);
        assert!(s.verify("000000000000", "ab", 1000, &sig, 999));
        assert!(!s.verify("000000000000", "ab", 1000, &sig, 1001));
        assert!(!s.verify("000000000001", "ab", 1000, &sig, 999));
        assert!(!s.verify("000000000000", "ac", 1000, &sig, 999));
    }

    #[test]
    fn signers_with_the_same_key_accept_each_others_urls() {
        let key = [7u8; 32];
        let (a, c) = (Signer::with_key(&key), Signer::with_key(&key));
        let sig = a.sign("000000000000", "ab", 1000);
        assert!(c.verify("000000000000", "ab", 1000, &sig, 999));
        assert!(!Signer::random().verify("000000000000", "ab", 1000, &sig, 999));
    }
}
