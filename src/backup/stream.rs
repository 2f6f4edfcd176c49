//! The byte streams of a backup file, each a `Write` or `Read` adapter so nothing is held
//! whole: [`Hashing`] (SHA-256 and size of what passes), [`Sealer`] / [`Opener`] (the
//! optional AES-256-GCM layer, in chunks of [`CHUNK`]).
//!
//! Sealed layout: `OZBK1` | key id length (1 byte) | key id | 7-byte random prefix, then
//! chunks `[u32 big-endian length][ciphertext+tag]`. Chunk `i`'s nonce is the prefix, `i`
//! and a last-chunk flag; every chunk's associated data is the header, so a chunk moved,
//! dropped, or a file cut after any chunk but the flagged last one, fails to open.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

use crate::security::crypto::{chunk_nonce, ChunkCipher, Keyring};

pub const MAGIC: &[u8; 5] = b"OZBK1";
/// Plaintext bytes per sealed chunk.
pub const CHUNK: usize = 1 << 20;

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Counts and hashes what is written through it.
pub struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    pub fn new(inner: W) -> Self {
        Self { inner, hash: Sha256::new(), bytes: 0 }
    }

    /// The inner writer, the hex SHA-256 and the byte count.
    pub fn finish(self) -> (W, String, u64) {
        (self.inner, format!("{:x}", self.hash.finalize()), self.bytes)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let written = buf.get(..n).unwrap_or_default();
        self.hash.update(written);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// SHA-256 and size of everything `r` yields.
pub fn hash_reader(mut r: impl Read) -> io::Result<(String, u64)> {
    let mut sink = Hashing::new(io::sink());
    io::copy(&mut r, &mut sink)?;
    let (_, hash, bytes) = sink.finish();
    Ok((hash, bytes))
}

/// Seals what is written into chunks; [`Sealer::finish`] writes the last one.
pub struct Sealer<W: Write> {
    inner: W,
    cipher: ChunkCipher,
    header: Vec<u8>,
    prefix: [u8; 7],
    counter: u32,
    buf: Vec<u8>,
}

impl<W: Write> Sealer<W> {
    pub fn new(mut inner: W, keyring: &Keyring) -> anyhow::Result<Self> {
        let cipher = keyring.chunk_cipher(None)?;
        let mut prefix = [0u8; 7];
        getrandom::getrandom(&mut prefix).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let id = cipher.key_id().as_bytes();
        let id_len = u8::try_from(id.len()).map_err(|_| anyhow::anyhow!("key id too long"))?;
        let mut header = MAGIC.to_vec();
        header.push(id_len);
        header.extend_from_slice(id);
        header.extend_from_slice(&prefix);
        inner.write_all(&header)?;
        Ok(Self { inner, cipher, header, prefix, counter: 0, buf: Vec::with_capacity(CHUNK) })
    }

    fn emit(&mut self, last: bool) -> io::Result<()> {
        let nonce = chunk_nonce(&self.prefix, self.counter, last);
        let sealed = self.cipher.seal(&nonce, &self.buf, &self.header).map_err(|e| io::Error::other(e.to_string()))?;
        let len = u32::try_from(sealed.len()).map_err(|_| invalid("chunk too large"))?;
        self.inner.write_all(&len.to_be_bytes())?;
        self.inner.write_all(&sealed)?;
        self.buf.clear();
        self.counter = self.counter.checked_add(1).ok_or_else(|| invalid("too many chunks"))?;
        Ok(())
    }

    /// Seals the remainder as the last chunk and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.emit(true)?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for Sealer<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let take = data.len().min(room);
        self.buf.extend_from_slice(data.get(..take).unwrap_or_default());
        if self.buf.len() == CHUNK {
            self.emit(false)?;
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The key id a sealed stream names in its header, if it is one.
pub fn sealed_key_id(mut r: impl Read) -> io::Result<Option<String>> {
    let mut magic = [0u8; 5];
    if r.read_exact(&mut magic).is_err() || &magic != MAGIC {
        return Ok(None);
    }
    let mut len = [0u8; 1];
    r.read_exact(&mut len)?;
    let mut id = vec![0u8; usize::from(len[0])];
    r.read_exact(&mut id)?;
    Ok(Some(String::from_utf8_lossy(&id).into_owned()))
}

/// Opens a sealed stream chunk by chunk; fails on any altered, missing or extra chunk.
pub struct Opener<R: Read> {
    inner: R,
    cipher: ChunkCipher,
    header: Vec<u8>,
    prefix: [u8; 7],
    counter: u32,
    plain: Vec<u8>,
    pos: usize,
    done: bool,
}

impl<R: Read> Opener<R> {
    pub fn new(mut inner: R, keyring: &Keyring) -> anyhow::Result<Self> {
        let mut magic = [0u8; 5];
        inner.read_exact(&mut magic).map_err(|_| anyhow::anyhow!("not a sealed backup (too short)"))?;
        if &magic != MAGIC {
            anyhow::bail!("not a sealed backup (unknown header)");
        }
        let mut len = [0u8; 1];
        inner.read_exact(&mut len)?;
        let mut id = vec![0u8; usize::from(len[0])];
        inner.read_exact(&mut id)?;
        let id = String::from_utf8(id).map_err(|_| anyhow::anyhow!("key id in the header is not UTF-8"))?;
        let cipher = keyring.chunk_cipher(Some(&id)).map_err(|_| {
            anyhow::anyhow!(
                "sealed with key {id}, which is not in the keyring (ORGANIZEO_ENCRYPTION_KEY / ORGANIZEO_ENCRYPTION_OLD_KEYS)"
            )
        })?;
        let mut prefix = [0u8; 7];
        inner.read_exact(&mut prefix)?;
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&len);
        header.extend_from_slice(id.as_bytes());
        header.extend_from_slice(&prefix);
        Ok(Self { inner, cipher, header, prefix, counter: 0, plain: Vec::new(), pos: 0, done: false })
    }

    /// Reads the next chunk; `false` at the end of the stream.
    fn next_chunk(&mut self) -> io::Result<bool> {
        if self.done {
            return Ok(false);
        }
        let mut len = [0u8; 4];
        match self.inner.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(invalid("the sealed stream ends before its last chunk (file cut short)"))
            }
            Err(e) => return Err(e),
        }
        let len = u32::from_be_bytes(len) as usize;
        if len > CHUNK + 16 {
            return Err(invalid("a sealed chunk is larger than any the writer makes (altered)"));
        }
        let mut sealed = vec![0u8; len];
        self.inner.read_exact(&mut sealed).map_err(|_| invalid("a sealed chunk is cut short"))?;
        // The last chunk is the one that opens with the last flag.
        let (plain, last) =
            match self.cipher.open(&chunk_nonce(&self.prefix, self.counter, false), &sealed, &self.header) {
                Ok(p) => (p, false),
                Err(_) => match self.cipher.open(&chunk_nonce(&self.prefix, self.counter, true), &sealed, &self.header)
                {
                    Ok(p) => (p, true),
                    Err(_) => {
                        return Err(invalid(format!(
                            "chunk {} does not decrypt: wrong key, or the file was altered",
                            self.counter
                        )))
                    }
                },
            };
        if last {
            let mut extra = [0u8; 1];
            if self.inner.read(&mut extra)? != 0 {
                return Err(invalid("data after the last sealed chunk (altered)"));
            }
            self.done = true;
        }
        self.counter = self.counter.checked_add(1).ok_or_else(|| invalid("too many chunks"))?;
        self.plain = plain;
        self.pos = 0;
        Ok(true)
    }
}

impl<R: Read> Read for Opener<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.plain.len() {
            if !self.next_chunk()? {
                return Ok(0);
            }
        }
        let available = self.plain.get(self.pos..).unwrap_or_default();
        let n = available.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), available.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::new(("k1".into(), [4; 32]), vec![])
    }

    fn seal(data: &[u8]) -> Vec<u8> {
        let mut s = Sealer::new(Vec::new(), &keyring()).unwrap();
        s.write_all(data).unwrap();
        s.finish().unwrap()
    }

    fn open(sealed: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Opener::new(sealed, &keyring()).map_err(|e| io::Error::other(e.to_string()))?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn round_trips_across_chunk_boundaries() {
        for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 5] {
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            assert_eq!(open(&seal(&data)).unwrap(), data, "size {size}");
        }
    }

    #[test]
    fn cutting_or_altering_fails() {
        let data: Vec<u8> = (0..CHUNK + 10).map(|i| (i % 13) as u8).collect();
        let sealed = seal(&data);
        // Cut after the first full chunk: header (5+1+2+7) + 4 + CHUNK + 16.
        let first = 15 + 4 + CHUNK + 16;
        assert!(open(&sealed[..first]).is_err(), "cut at a chunk boundary");
        assert!(open(&sealed[..sealed.len() - 1]).is_err(), "cut inside the last chunk");
        let mut altered = sealed.clone();
        altered[first - 20] ^= 1;
        assert!(open(&altered).is_err(), "a flipped bit");
        let mut longer = sealed.clone();
        longer.push(0);
        assert!(open(&longer).is_err(), "trailing data");
        assert_eq!(sealed_key_id(sealed.as_slice()).unwrap().as_deref(), Some("k1"));
    }
}
