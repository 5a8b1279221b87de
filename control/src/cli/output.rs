//! Output: aligned tables and `key: value` blocks for people, JSON with `--json`.
//! Everything goes through [`Out`], which writes to stdout and ignores a closed pipe
//! (`slipway logs | head` ends quietly).

use std::io::Write;

use serde::Serialize;

/// Standard output.
#[derive(Debug, Clone, Copy, Default)]
pub struct Out;

impl Out {
    /// Writes one line.
    pub fn line(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
        let _ = stdout.flush();
    }

    /// Writes text as is.
    pub fn text(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }

    /// Writes a value as pretty JSON.
    pub fn json<T: Serialize>(&self, value: &T) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".to_owned());
        self.line(&text);
    }

    /// Writes a table.
    pub fn table(&self, headers: &[&str], rows: &[Vec<String>]) {
        self.text(&table(headers, rows));
    }
}

/// Columns padded to their widest cell, two spaces apart, no trailing spaces.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut push = |cells: Vec<&str>| {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            if i + 1 < cells.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    push(headers.to_vec());
    for row in rows {
        push(row.iter().map(String::as_str).collect());
    }
    out
}

/// `key: value` lines with the values aligned.
pub fn pairs(items: &[(&str, String)]) -> String {
    let width = items.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0) + 1;
    let mut out = String::new();
    for (key, value) in items {
        let label = format!("{key}:");
        out.push_str(format!("{label:<width$} {value}").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests;
