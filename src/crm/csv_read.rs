//! Reading the CSV files people actually have: what spreadsheets in any locale write.
//!
//! - The separator is detected from the header row (`,`, `;` as Excel writes in Dutch,
//!   German and French locales, tab, or `|`), or given; an Excel `sep=;` first line is
//!   honoured and skipped.
//! - UTF-8 (with or without the byte-order mark Excel adds), or, when the file is not valid
//!   UTF-8, Windows-1252 (what "CSV" means in Excel on Windows in western locales).
//!   UTF-16 files are refused with a message saying how to save them.
//! - Rows with no content (`,,,,` below the data) are skipped, not counted.
//!
//! [`Rows`] streams records from any reader in batches, so a file of any size is read in
//! constant memory. Each record keeps its data-row number (from 1, blank rows counted), so
//! error reports point at the row a spreadsheet shows (minus the header).

use std::io::Read;

/// How much of the file's start [`sniff`] looks at.
pub const HEAD_BYTES: usize = 64 * 1024;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The text encoding of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Windows1252,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Windows1252 => "windows-1252",
        }
    }
}

/// How a file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    pub delimiter: u8,
    pub encoding: Encoding,
    /// Bytes before the header row: a byte-order mark and an Excel `sep=` line.
    pub skip: usize,
}

/// A delimiter named in a request: `,`, `;`, `tab` (or a tab character) or `|`.
pub fn parse_delimiter(s: &str) -> Option<u8> {
    match s {
        "," => Some(b','),
        ";" => Some(b';'),
        "\t" | "tab" | "\\t" => Some(b'\t'),
        "|" => Some(b'|'),
        _ => None,
    }
}

/// Checks UTF-8 validity of a stream fed in pieces (a character may span two pieces).
#[derive(Debug, Default)]
pub struct Utf8Check {
    pending: Vec<u8>,
    invalid: bool,
}

impl Utf8Check {
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.invalid {
            return;
        }
        let joined;
        let bytes = if self.pending.is_empty() {
            chunk
        } else {
            joined = [self.pending.as_slice(), chunk].concat();
            joined.as_slice()
        };
        let rest = match std::str::from_utf8(bytes) {
            Ok(_) => &[][..],
            Err(e) if e.error_len().is_none() => bytes.get(e.valid_up_to()..).unwrap_or_default(),
            Err(_) => {
                self.invalid = true;
                &[][..]
            }
        };
        self.pending = rest.to_vec();
    }

    /// Whether everything fed was UTF-8 (an unfinished character at the end is not).
    pub fn valid(&self) -> bool {
        !self.invalid && self.pending.is_empty()
    }
}

/// Works out the dialect from the start of the file (at most [`HEAD_BYTES`]) and whether
/// the whole file is UTF-8. `delimiter` overrides detection.
pub fn sniff(head: &[u8], utf8: bool, delimiter: Option<u8>) -> Result<Dialect, String> {
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        return Err("the file is UTF-16 (Excel's \"Unicode text\"); save it as \"CSV UTF-8\" and upload that".into());
    }
    let mut skip = 0;
    if head.starts_with(UTF8_BOM) {
        skip = UTF8_BOM.len();
    }
    let rest = head.get(skip..).unwrap_or_default();
    let mut named = None;
    // Excel's "sep=;" line names the separator and is not part of the data.
    if rest.len() >= 5 && rest.get(..4).is_some_and(|p| p.eq_ignore_ascii_case(b"sep=")) {
        let line_end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let line = rest.get(4..line_end).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let [d] = line {
            named = Some(*d);
            skip += (line_end + 1).min(rest.len());
        }
    }
    let delimiter = match delimiter.or(named) {
        Some(d) => d,
        None => detect_delimiter(head.get(skip..).unwrap_or_default()),
    };
    let encoding = if utf8 { Encoding::Utf8 } else { Encoding::Windows1252 };
    Ok(Dialect { delimiter, encoding, skip })
}

/// The candidate that occurs most often outside quotes in the header row; `,` on a tie.
fn detect_delimiter(head: &[u8]) -> u8 {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0), (b'|', 0)];
    let mut quoted = false;
    for &b in head {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            _ if !quoted => {
                if let Some(c) = counts.iter_mut().find(|(d, _)| *d == b) {
                    c.1 += 1;
                }
            }
            _ => {}
        }
    }
    counts.iter().fold((b',', 0), |best, &(d, n)| if n > best.1 { (d, n) } else { best }).0
}

/// A data record: its row number (from 1, the header not counted) and its cells.
pub type Record = (i64, Vec<String>);

/// Records of a file, read in batches.
pub struct Rows<R: Read> {
    reader: csv::Reader<R>,
    encoding: Encoding,
    headers: Vec<String>,
    record: csv::ByteRecord,
    row: i64,
}

impl<R: Read> Rows<R> {
    /// Reads the header row. `source` starts at the file's first byte.
    pub fn open(mut source: R, dialect: Dialect) -> Result<Self, String> {
        let mut skipped = vec![0u8; dialect.skip];
        source.read_exact(&mut skipped).map_err(|e| format!("cannot read the file: {e}"))?;
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(false)
            .delimiter(dialect.delimiter)
            .from_reader(source);
        let mut header = csv::ByteRecord::new();
        let found = reader.read_byte_record(&mut header).map_err(|e| format!("cannot read the header row: {e}"))?;
        let headers: Vec<String> = header.iter().map(|h| decode(h, dialect.encoding).trim().to_string()).collect();
        if !found || headers.iter().all(String::is_empty) {
            return Err("the file has no header row".into());
        }
        // Column names end up in error reports; cells with one are row errors instead.
        if let Some(i) = headers.iter().position(|h| h.contains('\0')) {
            return Err(format!("column {} of the header row contains the NUL character (U+0000)", i + 1));
        }
        Ok(Self { reader, encoding: dialect.encoding, headers, record: csv::ByteRecord::new(), row: 0 })
    }

    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// Up to `max` non-blank records; fewer only at the end of the file.
    pub fn next_batch(&mut self, max: usize) -> Result<Vec<Record>, String> {
        let mut out = Vec::new();
        while out.len() < max {
            let more = self.reader.read_byte_record(&mut self.record).map_err(|e| match e.position() {
                Some(_) => format!("row {}: {e}", self.row + 1),
                None => format!("cannot read the file: {e}"),
            })?;
            if !more {
                break;
            }
            self.row += 1;
            if self.record.iter().all(|c| c.iter().all(u8::is_ascii_whitespace)) {
                continue;
            }
            out.push((self.row, self.record.iter().map(|c| decode(c, self.encoding)).collect()));
        }
        Ok(out)
    }
}

fn decode(bytes: &[u8], encoding: Encoding) -> String {
    match encoding {
        Encoding::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
        Encoding::Windows1252 => encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(bytes: &[u8], delimiter: Option<u8>) -> (Vec<String>, Vec<Record>) {
        let mut check = Utf8Check::default();
        for piece in bytes.chunks(3) {
            check.feed(piece);
        }
        let dialect = sniff(bytes, check.valid(), delimiter).unwrap();
        let mut rows = Rows::open(bytes, dialect).unwrap();
        let headers = rows.headers().to_vec();
        (headers, rows.next_batch(usize::MAX).unwrap())
    }

    #[test]
    fn separators_are_detected_from_the_header() {
        let (h, r) = all(b"email;first_name;\"a,b\"\nann@x.example;Ann;1,5\n", None);
        assert_eq!(h, ["email", "first_name", "a,b"]);
        assert_eq!(r, [(1, vec!["ann@x.example".to_string(), "Ann".into(), "1,5".into()])]);
        let (h, _) = all(b"email\tname\n", None);
        assert_eq!(h, ["email", "name"]);
        let (h, _) = all(b"email\n", None);
        assert_eq!(h, ["email"]);
        let (h, _) = all(b"a;b\n", Some(b','));
        assert_eq!(h, ["a;b"], "a given delimiter wins");
    }

    #[test]
    fn excel_bom_and_sep_line_are_skipped() {
        let (h, r) = all(b"\xEF\xBB\xBFsep=;\r\nemail;name\r\na@x.example;A\r\n", None);
        assert_eq!(h, ["email", "name"]);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn windows_1252_is_decoded_when_not_utf8() {
        let (h, r) = all(b"naam;plaats\nJos\xe9;K\xf6ln \x80\n", None);
        assert_eq!(h, ["naam", "plaats"]);
        assert_eq!(r[0].1, ["José", "Köln €"]);
        let (_, r) = all("naam\nJosé\n".as_bytes(), None);
        assert_eq!(r[0].1, ["José"], "UTF-8 split across pieces is still UTF-8");
    }

    #[test]
    fn blank_rows_are_skipped_but_counted_in_row_numbers() {
        let (_, r) = all(b"email,name\n,,\na@x.example,A\n , \n\nb@x.example,B\n,,,,\n", None);
        assert_eq!(r.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [2, 4]);
    }

    #[test]
    fn utf16_is_refused_with_advice() {
        assert!(sniff(b"\xFF\xFEe\0m\0", false, None).unwrap_err().contains("CSV UTF-8"));
    }

    #[test]
    fn batches_resume_where_the_last_ended() {
        let data = b"n\n1\n2\n3\n4\n5\n";
        let mut rows = Rows::open(&data[..], sniff(data, true, None).unwrap()).unwrap();
        assert_eq!(rows.next_batch(2).unwrap().len(), 2);
        assert_eq!(rows.next_batch(2).unwrap()[0].1, ["3"]);
        assert_eq!(rows.next_batch(2).unwrap().len(), 1);
        assert!(rows.next_batch(2).unwrap().is_empty());
    }
}
