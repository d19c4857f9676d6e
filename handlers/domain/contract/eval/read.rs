//! Reading the data: CSV (one pass, or one half of a file read in two) and JSON Lines, behind a
//! guard that refuses binary files and unbounded lines.

use std::io::{BufRead, BufReader, Read};

use serde_json::Value;

use super::column::{push_member, value_text, ColumnState};
use super::{io_error, Unusable};

/// A reader that refuses lines longer than a limit and NUL bytes (binary files), so that neither
/// a single huge line nor a binary file can make the evaluator grow without bound.
pub(super) struct Guard<R> {
    pub(super) inner: R,
    pub(super) limit: usize,
    pub(super) since_newline: usize,
    pub(super) offset: u64,
    /// Counts `"` bytes when set (the first half of a file read in two).
    pub(super) quotes: Option<u64>,
}

impl<R> Guard<R> {
    pub(super) fn new(inner: R, limit: usize) -> Self {
        Self { inner, limit, since_newline: 0, offset: 0, quotes: None }
    }
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = &buf[..n];
        if let Some(q) = &mut self.quotes {
            *q += memchr::memchr_iter(b'"', chunk).count() as u64;
        }
        if let Some(i) = memchr::memchr(0, chunk) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("byte {} is NUL: this is a binary file, not CSV or JSON Lines text", self.offset + i as u64 + 1),
            ));
        }
        match memchr::memchr(b'\n', chunk) {
            Some(first) => {
                // The line that ends here started in earlier chunks; lines wholly inside this chunk
                // can only be too long if the chunk itself is longer than the limit.
                if self.since_newline + first > self.limit {
                    return Err(too_long(self.limit));
                }
                if n > self.limit {
                    let mut prev = first;
                    for nl in memchr::memchr_iter(b'\n', &chunk[first + 1..]) {
                        let pos = first + 1 + nl;
                        if pos - prev - 1 > self.limit {
                            return Err(too_long(self.limit));
                        }
                        prev = pos;
                    }
                }
                let last = memchr::memrchr(b'\n', chunk).unwrap_or(first);
                self.since_newline = n - last - 1;
            }
            None => self.since_newline += n,
        }
        if self.since_newline > self.limit {
            return Err(too_long(self.limit));
        }
        self.offset += n as u64;
        Ok(n)
    }
}

pub(super) fn too_long(limit: usize) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("a line is longer than {} MiB; the file is not line-oriented data", limit / (1024 * 1024)),
    )
}

pub(super) fn read_csv<R: Read>(
    reader: R,
    cols: &mut [ColumnState<'_>],
    freshness: Option<&str>,
    header: Option<&[Vec<u8>]>,
    size_hint: Option<u64>,
) -> Result<u64, Unusable> {
    let mut rdr = simd_csv::ZeroCopyReaderBuilder::new().flexible(true).has_headers(false).buffer_capacity(256 * 1024).from_reader(reader);
    let mut row = 0u64;
    let headers: Vec<Vec<u8>> = match header {
        Some(h) => h.to_vec(),
        None => match rdr.read_byte_record() {
            Ok(Some(h)) => (0..h.len()).map(|i| h.unescape(i).unwrap_or_default().into_owned()).collect(),
            Ok(None) => Vec::new(),
            Err(e) => return Err(csv_error(e, 0)),
        },
    };
    if headers.is_empty() || (headers.len() == 1 && headers[0].is_empty()) {
        return Err(Unusable("the file is empty: a CSV needs at least a header row".into()));
    }
    if headers.iter().any(|h| simdutf8::basic::from_utf8(h).is_err()) {
        return Err(Unusable("the header row is not valid UTF-8 text".into()));
    }
    let find = |name: &str| headers.iter().position(|h| h == name.as_bytes() || trim_bom(h) == name.as_bytes());
    for c in cols.iter_mut() {
        c.index = find(&c.prop.column);
        c.member_index = c.members.iter().map(|m| find(m)).collect();
        if !c.members.is_empty() {
            c.index = Some(usize::MAX);
        }
    }
    let mut key = Vec::new();
    let fresh_idx: Option<usize> = freshness.and_then(|f| cols.iter().position(|c| c.prop.name == f));
    let start = rdr.position();
    loop {
        let record = match rdr.read_byte_record() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => return Err(csv_error(e, row + 1)),
        };
        row += 1;
        if record.len() != headers.len() {
            return Err(Unusable(format!(
                "row {row} has {} field(s) but the header has {} (a ragged or truncated CSV)",
                record.len(),
                headers.len()
            )));
        }
        if simdutf8::basic::from_utf8(record.as_slice()).is_err() {
            return Err(Unusable(format!("row {row} is not valid UTF-8 text")));
        }
        for (ci, c) in cols.iter_mut().enumerate() {
            if !c.members.is_empty() {
                key.clear();
                for m in &c.member_index {
                    let field = m.map(|i| record.unescape(i).unwrap_or_default());
                    push_member(&mut key, field.as_deref().filter(|f| !f.is_empty()));
                }
                c.observe(row, Some(&key), None, false);
                continue;
            }
            // A column missing from the file is null in every row (as a database would read it).
            let Some(i) = c.index else {
                c.observe(row, None, None, false);
                continue;
            };
            // The record was checked as UTF-8 above; unescaping only drops quotes.
            let field = record.unescape(i).unwrap_or_default();
            c.observe(row, (!field.is_empty()).then_some(&field), None, fresh_idx == Some(ci));
        }
        if row == 4096 {
            // Size the uniqueness sets for the whole file once its rows' length is known, rather
            // than growing them (and rehashing) a dozen times.
            if let Some(total) = size_hint {
                let per_row = ((rdr.position() - start) / row).max(1);
                for c in cols.iter_mut() {
                    c.reserve((total / per_row) as usize);
                }
            }
        }
    }
    for c in cols.iter_mut() {
        c.flush();
    }
    Ok(row)
}

/// The header (unquoted headers only), and the offset just after the first line break at or after
/// `mid`. Whether that break is outside quotes is for the first half's reader to confirm.
pub(super) fn find_split(file: std::fs::File, mid: u64) -> Option<(Vec<Vec<u8>>, u64)> {
    use std::io::{Seek, SeekFrom};
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let buf = reader.fill_buf().ok()?;
    let end = memchr::memchr(b'\n', buf)?;
    if buf[..end].contains(&b'"') {
        return None; // a quoted header: read in one pass
    }
    let line = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
    let header: Vec<Vec<u8>> = line.split(|b| *b == b',').map(<[u8]>::to_vec).collect();
    if mid <= end as u64 {
        return None;
    }
    reader.seek(SeekFrom::Start(mid)).ok()?;
    let mut offset = mid;
    loop {
        let buf = reader.fill_buf().ok()?;
        if buf.is_empty() {
            return None;
        }
        if let Some(nl) = memchr::memchr(b'\n', buf) {
            return Some((header, offset + nl as u64 + 1));
        }
        let n = buf.len();
        offset += n as u64;
        reader.consume(n);
    }
}

pub(super) fn trim_bom(h: &[u8]) -> &[u8] {
    h.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(h)
}

pub(super) fn csv_error(e: simd_csv::Error, row: u64) -> Unusable {
    match e.into_kind() {
        simd_csv::ErrorKind::Io(io) => io_error(io),
        simd_csv::ErrorKind::Utf8Error => Unusable(format!("row {row} is not valid UTF-8 text")),
        other => Unusable(format!("unreadable CSV at row {row}: {other:?}")),
    }
}

pub(super) fn read_jsonl<R: Read>(reader: R, cols: &mut [ColumnState<'_>], freshness: Option<&str>) -> Result<u64, Unusable> {
    let mut buf = BufReader::with_capacity(256 * 1024, reader);
    let mut line = Vec::new();
    let mut row = 0u64;
    let mut line_no = 0u64;
    let fresh_idx: Option<usize> = freshness.and_then(|f| cols.iter().position(|c| c.prop.name == f));
    let mut present = vec![false; cols.len()];
    let mut key = Vec::new();
    loop {
        line.clear();
        let n = buf.read_until(b'\n', &mut line).map_err(io_error)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            continue;
        }
        row += 1;
        let v: Value = match serde_json::from_slice(trimmed) {
            Ok(v) => v,
            Err(e) if e.is_eof() => return Err(Unusable(format!("line {line_no} is cut off (a truncated file?)"))),
            Err(e) => return Err(Unusable(format!("line {line_no} is not JSON: {e}"))),
        };
        let Value::Object(obj) = v else {
            return Err(Unusable(format!("line {line_no} is not a JSON object")));
        };
        for (ci, c) in cols.iter_mut().enumerate() {
            if !c.members.is_empty() {
                key.clear();
                for m in &c.members {
                    let text = obj.get(m).filter(|v| !v.is_null()).map(value_text);
                    push_member(&mut key, text.as_deref().map(str::as_bytes));
                }
                c.observe(row, Some(&key), None, false);
                present[ci] = true;
                continue;
            }
            let cell = obj.get(&c.prop.column).filter(|v| !v.is_null());
            if obj.contains_key(&c.prop.column) {
                present[ci] = true;
            }
            let text = cell.map(value_text);
            c.observe(row, text.as_deref().map(str::as_bytes), cell, fresh_idx == Some(ci));
        }
    }
    for (ci, c) in cols.iter_mut().enumerate() {
        c.flush();
        // A JSON Lines file "has" a key when any row has it (or it has no rows); an optional
        // key may be absent from every record (it reads as null), as datacontract-cli reads JSON.
        let optional = !(c.prop.required || c.prop.primary_key);
        c.index = (present[ci] || row == 0 || optional).then_some(ci);
    }
    Ok(row)
}
