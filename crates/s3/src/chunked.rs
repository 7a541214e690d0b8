//! Decoding of `Content-Encoding: aws-chunked` request bodies, incrementally, as the body's
//! frames arrive (a chunk header, a chunk or a trailer may be split across frames anywhere).
//!
//! The framing (SigV4 streaming uploads, signed or unsigned, with or without trailers):
//!
//! ```text
//! <hex-size>[;chunk-signature=<sig>]\r\n <size bytes> \r\n   … repeated …
//! 0[;chunk-signature=<sig>]\r\n
//! [<trailer-name>:<value>\r\n …]                               e.g. x-amz-checksum-crc32:AAAAAA==
//! \r\n
//! ```
//!
//! With a [`sigv4::ChunkVerifier`] ([`Decoder::verified`]), every chunk must carry its
//! `chunk-signature`, checked as soon as the chunk's last byte is read (before that byte is handed
//! out), and trailers must carry `x-amz-trailer-signature`, checked by [`Decoder::finish`].
//! Trailers are returned (without the signature).

use sha2::{Digest as _, Sha256};

use crate::limits::{CHUNK_HEADER_BYTES_MAX, CHUNK_TRAILER_BYTES_MAX};

/// The trailer that carries the trailer signature.
const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";

/// Why a body is not valid `aws-chunked`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("malformed aws-chunked body: {0}")]
    Malformed(&'static str),
    #[error("aws-chunked body ended early")]
    Incomplete,
    /// A chunk or trailer signature is missing or does not match.
    #[error("aws-chunked chunk or trailer signature does not match")]
    Signature,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk header line into `line`.
    Header,
    /// Inside a chunk's data, with this many bytes left.
    Data(u64),
    /// After a chunk's data: expecting `\r` (or a bare `\n`).
    DataEnd,
    /// After the `\r` that ends a chunk's data: expecting `\n`.
    DataLf,
    /// After the zero-size chunk: reading trailer lines until an empty line.
    Trailers,
    /// The empty line after the trailers was read.
    Done,
}

/// The incremental decoder. Feed it the body's bytes with [`Decoder::decode`]; call
/// [`Decoder::finish`] at the end of the body.
#[derive(Debug)]
pub struct Decoder {
    state: State,
    line: Vec<u8>,
    trailer_bytes: usize,
    trailers: Vec<(String, String)>,
    decoded_bytes: u64,
    /// Signed chunks: the verifier, the current chunk's signature and the hash of its data so far.
    verifier: Option<sigv4::ChunkVerifier>,
    chunk_signature: Vec<u8>,
    chunk_hash: Sha256,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new()
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder {
            state: State::Header,
            line: Vec::new(),
            trailer_bytes: 0,
            trailers: Vec::new(),
            decoded_bytes: 0,
            verifier: None,
            chunk_signature: Vec::new(),
            chunk_hash: Sha256::new(),
        }
    }

    /// A decoder that checks every chunk signature, and the trailer signature, with `verifier`.
    pub fn verified(verifier: sigv4::ChunkVerifier) -> Decoder {
        Decoder { verifier: Some(verifier), ..Decoder::new() }
    }

    /// Checks the chunk just completed (its data all hashed) against its signature.
    fn check_chunk(&mut self) -> Result<(), ChunkError> {
        let Some(verifier) = self.verifier.as_mut() else { return Ok(()) };
        let hash: [u8; 32] = std::mem::take(&mut self.chunk_hash).finalize().into();
        verifier.verify_chunk(hash, &self.chunk_signature).map_err(|_| ChunkError::Signature)
    }

    /// Consumes framing from the front of `input` and returns the next piece of payload, or
    /// `Ok(None)` once `input` is used up. Call repeatedly until it returns `None`.
    pub fn decode<'a>(&mut self, input: &mut &'a [u8]) -> Result<Option<&'a [u8]>, ChunkError> {
        while !input.is_empty() {
            match self.state {
                State::Header | State::Trailers => {
                    let Some(line) = self.take_line(input)? else { continue };
                    if self.state == State::Header {
                        let (size, signature) = parse_chunk_header(&line)?;
                        if self.verifier.is_some() {
                            self.chunk_signature = signature.ok_or(ChunkError::Signature)?.to_vec();
                        }
                        self.state = match size {
                            0 => {
                                self.check_chunk()?;
                                State::Trailers
                            }
                            n => State::Data(n),
                        };
                    } else if line.is_empty() {
                        self.state = State::Done;
                    } else {
                        self.add_trailer(&line)?;
                    }
                }
                State::Data(left) => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                    let (data, rest) = input.split_at(n);
                    *input = rest;
                    let left = left - n as u64;
                    self.decoded_bytes += n as u64;
                    if self.verifier.is_some() {
                        self.chunk_hash.update(data);
                        if left == 0 {
                            self.check_chunk()?;
                        }
                    }
                    self.state = if left == 0 { State::DataEnd } else { State::Data(left) };
                    return Ok(Some(data));
                }
                State::DataEnd => {
                    self.state = match input[0] {
                        b'\r' => State::DataLf,
                        b'\n' => State::Header,
                        _ => return Err(ChunkError::Malformed("chunk data longer than its size")),
                    };
                    *input = &input[1..];
                }
                State::DataLf => {
                    if input[0] != b'\n' {
                        return Err(ChunkError::Malformed("chunk data not followed by CRLF"));
                    }
                    *input = &input[1..];
                    self.state = State::Header;
                }
                State::Done => {
                    // Tolerate stray line ends after the final empty line; nothing else.
                    if input.iter().any(|c| *c != b'\r' && *c != b'\n') {
                        return Err(ChunkError::Malformed("data after the final chunk"));
                    }
                    *input = &[];
                }
            }
        }
        Ok(None)
    }

    /// Payload bytes produced so far.
    #[cfg(test)]
    pub fn decoded_bytes(&self) -> u64 {
        self.decoded_bytes
    }

    /// Ends the body: the trailers (names lowercased), or an error if the body stopped inside a
    /// chunk. A body that ends right after the zero-size chunk (without the final empty line) is
    /// accepted.
    ///
    /// Verified: trailers need a valid `x-amz-trailer-signature` over the others (each
    /// `name:value\n`, sorted by name, as the SDKs sign them), which is then dropped.
    pub fn finish(mut self) -> Result<Vec<(String, String)>, ChunkError> {
        match self.state {
            State::Done => {}
            State::Trailers if self.line.is_empty() => {}
            _ => return Err(ChunkError::Incomplete),
        }
        let signature =
            self.trailers.iter().position(|(k, _)| k == TRAILER_SIGNATURE).map(|i| self.trailers.remove(i).1);
        if let Some(verifier) = self.verifier.as_mut()
            && (signature.is_some() || !self.trailers.is_empty())
        {
            let signature = signature.ok_or(ChunkError::Signature)?;
            let mut sorted: Vec<&(String, String)> = self.trailers.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            let canonical: String = sorted.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
            verifier.verify_trailer(canonical.as_bytes(), signature.as_bytes()).map_err(|_| ChunkError::Signature)?;
        }
        Ok(self.trailers)
    }

    /// Appends input up to and including the next `\n` to `self.line`; returns the completed
    /// line without its line end, or `None` (input used up) if the line continues.
    fn take_line(&mut self, input: &mut &[u8]) -> Result<Option<Vec<u8>>, ChunkError> {
        let (piece, complete) = match input.iter().position(|c| *c == b'\n') {
            Some(i) => (&input[..=i], true),
            None => (*input, false),
        };
        *input = &input[piece.len()..];
        let bound = if self.state == State::Header { CHUNK_HEADER_BYTES_MAX } else { CHUNK_TRAILER_BYTES_MAX };
        if self.state == State::Trailers {
            self.trailer_bytes += piece.len();
        }
        if self.line.len() + piece.len() > bound || self.trailer_bytes > CHUNK_TRAILER_BYTES_MAX {
            return Err(ChunkError::Malformed("chunk header or trailer too long"));
        }
        self.line.extend_from_slice(piece);
        if !complete {
            return Ok(None);
        }
        let mut line = std::mem::take(&mut self.line);
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(Some(line))
    }

    fn add_trailer(&mut self, line: &[u8]) -> Result<(), ChunkError> {
        let line = std::str::from_utf8(line).map_err(|_| ChunkError::Malformed("trailer is not UTF-8"))?;
        let (name, value) = line.split_once(':').ok_or(ChunkError::Malformed("trailer without a colon"))?;
        self.trailers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        Ok(())
    }
}

/// `1a2b` or `1a2b;chunk-signature=…` → the size and the signature, if any.
fn parse_chunk_header(line: &[u8]) -> Result<(u64, Option<&[u8]>), ChunkError> {
    let mut parts = line.split(|c| *c == b';');
    let hex = parts.next().unwrap_or_default().trim_ascii();
    let signature = parts.find_map(|ext| ext.trim_ascii().strip_prefix(b"chunk-signature=".as_slice()));
    Ok((parse_chunk_size(hex)?, signature))
}

/// The hex size of a chunk header.
fn parse_chunk_size(hex: &[u8]) -> Result<u64, ChunkError> {
    if hex.is_empty() || hex.len() > 16 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return Err(ChunkError::Malformed("invalid chunk size"));
    }
    let s = std::str::from_utf8(hex).map_err(|_| ChunkError::Malformed("invalid chunk size"))?;
    u64::from_str_radix(s, 16).map_err(|_| ChunkError::Malformed("invalid chunk size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Decoded = (Vec<u8>, Vec<(String, String)>);

    /// Decodes `body` fed in pieces of `step` bytes.
    fn decode_in_steps(body: &[u8], step: usize) -> Result<Decoded, ChunkError> {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        for piece in body.chunks(step) {
            let mut input = piece;
            while let Some(data) = d.decode(&mut input)? {
                out.extend_from_slice(data);
            }
        }
        assert_eq!(d.decoded_bytes(), out.len() as u64);
        Ok((out, d.finish()?))
    }

    const UNSIGNED_TRAILER: &[u8] = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
    const SIGNED: &[u8] =
        b"5;chunk-signature=aaaa\r\nhello\r\n6;chunk-signature=bbbb\r\n world\r\n0;chunk-signature=cccc\r\n\r\n";

    #[test]
    fn decodes_unsigned_with_trailer_split_anywhere() {
        for step in 1..=UNSIGNED_TRAILER.len() {
            let (data, trailers) = decode_in_steps(UNSIGNED_TRAILER, step).unwrap();
            assert_eq!(data, b"hello world", "step {step}");
            assert_eq!(trailers, vec![("x-amz-checksum-crc32".to_owned(), "DUoRhQ==".to_owned())]);
        }
    }

    #[test]
    fn decodes_signed_chunks_split_anywhere() {
        for step in 1..=SIGNED.len() {
            let (data, trailers) = decode_in_steps(SIGNED, step).unwrap();
            assert_eq!(data, b"hello world");
            assert!(trailers.is_empty());
        }
    }

    #[test]
    fn decodes_signed_trailer_and_a_missing_final_crlf() {
        let body = b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAA\r\nx-amz-trailer-signature:ffff\r\n\r\n";
        let (data, trailers) = decode_in_steps(body, 7).unwrap();
        assert_eq!(data, b"abc");
        assert_eq!(trailers, vec![("x-amz-checksum-crc32".to_owned(), "AAAA".to_owned())], "the signature is dropped");
        let (data, _) = decode_in_steps(b"3\r\nabc\r\n0\r\n", 4).unwrap();
        assert_eq!(data, b"abc");
    }

    #[test]
    fn rejects_malformed_and_truncated_bodies() {
        assert_eq!(decode_in_steps(b"3\r\nab", 100), Err(ChunkError::Incomplete));
        assert_eq!(decode_in_steps(b"3\r\nabc\r\n", 100), Err(ChunkError::Incomplete));
        assert!(matches!(decode_in_steps(b"zz\r\nabc\r\n0\r\n\r\n", 100), Err(ChunkError::Malformed(_))));
        assert!(matches!(decode_in_steps(b"3\r\nabcd\r\n0\r\n\r\n", 100), Err(ChunkError::Malformed(_))));
        assert!(matches!(decode_in_steps(b"0\r\n\r\nextra", 100), Err(ChunkError::Malformed(_))));
        assert!(matches!(decode_in_steps(b"0\r\nno-colon\r\n\r\n", 100), Err(ChunkError::Malformed(_))));
        let long = [b"1".repeat(CHUNK_HEADER_BYTES_MAX + 1), b"\r\n".to_vec()].concat();
        assert!(matches!(decode_in_steps(&long, 100), Err(ChunkError::Malformed(_))));
    }

    #[test]
    fn empty_payload() {
        let (data, trailers) = decode_in_steps(b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", 2).unwrap();
        assert!(data.is_empty());
        assert_eq!(trailers.len(), 1);
    }
}
