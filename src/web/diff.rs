//! A line diff of two texts for comparing an email's revisions: each line kept, removed or
//! added, in order. Longest common subsequence on the lines that differ, after the common
//! start and end are set aside (edits to an email are usually a few lines in one place).
//!
//! The table is bounded: when the differing middle of both sides would need more than
//! [`MAX_CELLS`] cells (a 512 KiB body rewritten line by line), the middle is shown as
//! removed then added, which is still correct, only less fine-grained. It must never
//! allocate in proportion to the product of two unbounded inputs.

use serde::Serialize;

/// The most LCS cells (lines removed × lines added) one comparison may use: 4 MB of u32.
pub const MAX_CELLS: usize = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Same,
    Removed,
    Added,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub change: Change,
    pub text: String,
}

fn line(change: Change, text: &str) -> Line {
    Line { change, text: text.to_string() }
}

/// The lines of `old` and `new` as kept, removed and added.
pub fn lines(old: &str, new: &str) -> Vec<Line> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (rest_a, rest_b) = (a.get(prefix..).unwrap_or_default(), b.get(prefix..).unwrap_or_default());
    let suffix = rest_a.iter().rev().zip(rest_b.iter().rev()).take_while(|(x, y)| x == y).count();
    let mid_a = rest_a.get(..rest_a.len() - suffix).unwrap_or_default();
    let mid_b = rest_b.get(..rest_b.len() - suffix).unwrap_or_default();
    let mut out: Vec<Line> = a.iter().take(prefix).map(|l| line(Change::Same, l)).collect();
    out.extend(middle(mid_a, mid_b));
    out.extend(rest_a.iter().skip(rest_a.len() - suffix).map(|l| line(Change::Same, l)));
    out
}

fn middle(a: &[&str], b: &[&str]) -> Vec<Line> {
    let (n, m) = (a.len(), b.len());
    if n.saturating_mul(m) > MAX_CELLS || n == 0 || m == 0 {
        let mut out: Vec<Line> = a.iter().map(|l| line(Change::Removed, l)).collect();
        out.extend(b.iter().map(|l| line(Change::Added, l)));
        return out;
    }
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..], flattened.
    let width = m + 1;
    let mut lcs = vec![0u32; (n + 1) * width];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            let here = if a.get(i) == b.get(j) {
                lcs.get((i + 1) * width + j + 1).copied().unwrap_or(0) + 1
            } else {
                let down = lcs.get((i + 1) * width + j).copied().unwrap_or(0);
                let right = lcs.get(i * width + j + 1).copied().unwrap_or(0);
                down.max(right)
            };
            if let Some(cell) = lcs.get_mut(i * width + j) {
                *cell = here;
            }
        }
    }
    let at = |i: usize, j: usize| lcs.get(i * width + j).copied().unwrap_or(0);
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(n + m));
    while i < n || j < m {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                out.push(line(Change::Same, x));
                i += 1;
                j += 1;
            }
            (Some(x), Some(_)) if at(i + 1, j) >= at(i, j + 1) => {
                out.push(line(Change::Removed, x));
                i += 1;
            }
            (_, Some(y)) => {
                out.push(line(Change::Added, y));
                j += 1;
            }
            (Some(x), None) => {
                out.push(line(Change::Removed, x));
                i += 1;
            }
            (None, None) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(d: &[Line]) -> String {
        d.iter()
            .map(|l| {
                let mark = match l.change {
                    Change::Same => ' ',
                    Change::Removed => '-',
                    Change::Added => '+',
                };
                format!("{mark}{}", l.text)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn changed_lines_are_removed_then_added_between_kept_ones() {
        let d = lines("a\nb\nc\nd", "a\nB\nc\nd\ne");
        assert_eq!(show(&d), " a\n-b\n+B\n c\n d\n+e");
        assert_eq!(show(&lines("same", "same")), " same");
        assert_eq!(show(&lines("", "new")), "+new");
        assert_eq!(show(&lines("old", "")), "-old");
        assert_eq!(show(&lines("x\ny\nz", "y\nz\nx")), "-x\n y\n z\n+x");
    }

    #[test]
    fn a_huge_rewrite_is_bounded_and_still_complete() {
        let old: String = (0..2000).map(|i| format!("old {i}\n")).collect();
        let new: String = (0..2000).map(|i| format!("new {i}\n")).collect();
        let d = lines(&old, &new);
        assert_eq!(d.len(), 4000);
        assert!(d.iter().take(2000).all(|l| l.change == Change::Removed));
        assert!(d.iter().skip(2000).all(|l| l.change == Change::Added));
    }
}
