//! A read-only reader of BerkeleyDB hash databases, enough for rpm's `Packages` file.
//!
//! Written by hand: no maintained Rust crate reads BerkeleyDB files (the bindings need the C
//! library, which is AGPL-licensed since 6.0 and absent from most systems), and rpm needs very
//! little of the format. The layout follows BerkeleyDB 5.3's `dbinc/db_page.h`:
//!
//! - page 0 is the hash metadata page: magic `0x061561` at byte 12 (its byte order gives the
//!   file's), page size at byte 20, last page number at byte 32;
//! - every page starts with a 26-byte header: pgno (8), prev (12), next (16), entries (20),
//!   hf_offset (22), level (24), type (25);
//! - hash pages (`P_HASH` 13, `P_HASH_UNSORTED` 2) hold `entries` item offsets (u16) after the
//!   header, items alternating key, value; an item's first byte is its type: `H_KEYDATA` (1,
//!   bytes inline), `H_OFFPAGE` (3: pgno at 4, total length at 8, the bytes on a chain of
//!   overflow pages);
//! - overflow pages (`P_OVERFLOW` 7) keep their data after the header, `hf_offset` bytes of it,
//!   and chain through `next`.
//!
//! rpm keys records by a 4-byte number; the values are header blobs. Every hash page is read
//! in page order, as rpm's own `bdb_ro` backend does, so a damaged bucket chain cannot loop.

/// A BerkeleyDB file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a readable BerkeleyDB hash database: {0}")]
pub struct BdbError(pub String);

const HASH_MAGIC: u32 = 0x0006_1561;
const PAGE_HEADER: usize = 26;
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASH: u8 = 13;
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;

struct Db<'a> {
    bytes: &'a [u8],
    page_size: usize,
    little: bool,
}

impl Db<'_> {
    fn u16(&self, at: usize) -> Option<u16> {
        let b = self.bytes.get(at..at + 2)?;
        Some(if self.little { u16::from_le_bytes([b[0], b[1]]) } else { u16::from_be_bytes([b[0], b[1]]) })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let b = self.bytes.get(at..at + 4)?;
        let a = [b[0], b[1], b[2], b[3]];
        Some(if self.little { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) })
    }

    fn page(&self, pgno: u32) -> Option<&[u8]> {
        let start = (pgno as usize).checked_mul(self.page_size)?;
        self.bytes.get(start..start + self.page_size)
    }

    /// Follow an overflow chain from `pgno`, collecting `total` bytes.
    fn overflow(&self, mut pgno: u32, total: usize) -> Result<Vec<u8>, BdbError> {
        let mut out = Vec::with_capacity(total.min(64 << 20));
        let pages = self.bytes.len() / self.page_size;
        let mut visited = 0;
        while out.len() < total {
            visited += 1;
            if pgno == 0 || visited > pages {
                return Err(BdbError(format!("an overflow chain ends after {} of {total} bytes", out.len())));
            }
            let page = self.page(pgno).ok_or_else(|| BdbError(format!("overflow page {pgno} is past the end")))?;
            let base = pgno as usize * self.page_size;
            if page[25] != P_OVERFLOW {
                return Err(BdbError(format!("page {pgno} should be an overflow page")));
            }
            let len = usize::from(self.u16(base + 22).unwrap_or(0));
            let data = page
                .get(PAGE_HEADER..PAGE_HEADER + len)
                .ok_or_else(|| BdbError(format!("overflow page {pgno} claims {len} bytes")))?;
            out.extend_from_slice(data);
            pgno = self.u32(base + 16).unwrap_or(0);
        }
        out.truncate(total);
        Ok(out)
    }
}

/// Every value stored in the hash database `bytes`, in page order.
pub fn values(bytes: &[u8]) -> Result<Vec<Vec<u8>>, BdbError> {
    if bytes.len() < 512 {
        return Err(BdbError(format!("{} bytes is too short", bytes.len())));
    }
    let magic_le = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    let magic_be = u32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    let little = match (magic_le == HASH_MAGIC, magic_be == HASH_MAGIC) {
        (true, _) => true,
        (_, true) => false,
        _ => return Err(BdbError(format!("magic {magic_le:#x} is not a hash database's"))),
    };
    let mut db = Db { bytes, page_size: 0, little };
    let page_size = db.u32(20).unwrap_or(0) as usize;
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(BdbError(format!("page size {page_size} is not one BerkeleyDB uses")));
    }
    db.page_size = page_size;
    let last = db.u32(32).unwrap_or(0).min((bytes.len() / page_size).saturating_sub(1) as u32);
    let mut values = Vec::new();
    for pgno in 1..=last {
        let Some(page) = db.page(pgno) else { break };
        if page[25] != P_HASH && page[25] != P_HASH_UNSORTED {
            continue;
        }
        let base = pgno as usize * page_size;
        let entries = usize::from(db.u16(base + 20).unwrap_or(0));
        // Item offsets follow the header; items are packed from the end of the page, so an
        // item runs up to the previous item's start (the page's end for the first).
        let offsets: Vec<usize> =
            (0..entries).filter_map(|i| db.u16(base + PAGE_HEADER + 2 * i)).map(usize::from).collect();
        for i in (1..offsets.len()).step_by(2) {
            let start = offsets[i];
            // BerkeleyDB's LEN_HITEM: an item ends where the previous one starts.
            let end = offsets[i - 1].max(start).min(page_size);
            let Some(item) = page.get(start..end) else { continue };
            match item.first() {
                Some(&H_KEYDATA) => values.push(item[1..].to_vec()),
                Some(&H_OFFPAGE) if item.len() >= 12 => {
                    let pg = db.u32(base + start + 4).unwrap_or(0);
                    let total = db.u32(base + start + 8).unwrap_or(0) as usize;
                    values.push(db.overflow(pg, total)?);
                }
                _ => {}
            }
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_are_not_hash_databases_are_refused() {
        assert!(values(&[0; 100]).is_err());
        assert!(values(&[0; 4096]).is_err());
    }
}
