//! Search in scripts written without spaces between words (Chinese, Japanese).
//!
//! FTS5's `unicode61` tokenizer splits on spaces and punctuation, so a Japanese or Chinese
//! sentence is ONE token and a word inside it can never match. The fix indexes the runs of such
//! characters a second time, as overlapping bigrams (`東京都` -> `東京 京都 都`), in the FTS5
//! tables `search_cjk` and `search_cjk_titles`, whose rows share the ids of `search_text` and
//! `search_titles`. A query's CJK part becomes the phrase of its own bigrams (`京都` ->
//! `"京都"`, `東京都` -> `"東京 京都"`), which matches exactly the documents containing that
//! character sequence; a single character matches as a prefix (every character starts a
//! bigram, a run's last one is indexed alone too). Such a query is ranked like any other (see
//! [`super::search`]).
//!
//! Why bigrams at the writer rather than FTS5's `trigram` tokenizer: trigram cannot match a
//! query shorter than three characters, and most Chinese and Japanese words are two. Why not
//! an ICU tokenizer: it is not in the bundled SQLite, and dictionary segmentation would still
//! miss words the dictionary splits differently. Only documents with CJK text get a row, so a
//! history in other scripts pays one extra lookup per re-indexed document and nothing else.
//!
//! The bigram text is not readable, so snippets for CJK queries are cut from the original text
//! (kept in `search_text` and `search_titles`) around the first match, with every query term
//! marked.

use orbitdock_protocol::{MATCH_END, MATCH_START};
use rusqlite::{Transaction, params};

use crate::error::{Error, Result};

/// The schema of the migration that added it (the current one is in [`super::search::SCHEMA`]).
pub(crate) const SCHEMA: &str = r#"
    CREATE VIRTUAL TABLE search_cjk USING fts5(
        title, body, tokenize = 'unicode61 remove_diacritics 2'
    );
"#;

/// Whether `c` belongs to a script written without spaces between words: Han ideographs and
/// the Japanese kana. Hangul is not here: Korean separates words with spaces.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x309F          // Hiragana
        | 0x30A0..=0x30FA        // Katakana (without the middle dot, a separator)
        | 0x30FC..=0x30FF        // prolonged sound mark, iteration marks
        | 0x31F0..=0x31FF        // Katakana phonetic extensions
        | 0x3400..=0x4DBF        // CJK Extension A
        | 0x4E00..=0x9FFF        // CJK Unified Ideographs
        | 0xF900..=0xFAFF        // CJK Compatibility Ideographs
        | 0xFF66..=0xFF9F        // Halfwidth Katakana
        | 0x20000..=0x3134F) // CJK Extensions B-G
}

/// The text `search_cjk` indexes for `text`: `text` with each CJK run replaced by its
/// overlapping bigrams and its last character, space separated (the rest is kept as it is, so
/// a word written inside a Japanese sentence, `東京リージョンにdeployする`, is a word here too).
/// Empty when `text` has no CJK character.
pub(crate) fn bigrams(text: &str) -> String {
    if !text.chars().any(is_cjk) {
        return String::new();
    }
    let mut out = String::with_capacity(text.len() * 2);
    let mut run: Vec<char> = Vec::new();
    let flush = |run: &mut Vec<char>, out: &mut String| {
        if run.is_empty() {
            return;
        }
        out.push(' ');
        for w in run.windows(2) {
            out.push(w[0]);
            out.push(w[1]);
            out.push(' ');
        }
        if let Some(last) = run.last() {
            out.push(*last);
            out.push(' ');
        }
        run.clear();
    };
    for c in text.chars() {
        if is_cjk(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// A user's query split by script: words in scripts with spaces, and CJK runs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct QueryTerms {
    /// Words in scripts with spaces (matched as prefixes by `unicode61`).
    pub words: Vec<String>,
    /// Runs of CJK characters.
    pub cjk: Vec<String>,
}

/// Splits `text` into words (on anything not alphanumeric or `_`), and each word into its CJK
/// and non-CJK runs.
pub fn query_terms(text: &str) -> QueryTerms {
    let mut t = QueryTerms::default();
    for word in text
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
    {
        let mut cur = String::new();
        let mut cur_cjk = false;
        for c in word.chars() {
            let cjk = is_cjk(c);
            if !cur.is_empty() && cjk != cur_cjk {
                let done = std::mem::take(&mut cur);
                if cur_cjk {
                    t.cjk.push(done)
                } else {
                    t.words.push(done)
                }
            }
            cur_cjk = cjk;
            cur.push(c);
        }
        if !cur.is_empty() {
            if cur_cjk {
                t.cjk.push(cur)
            } else {
                t.words.push(cur)
            }
        }
    }
    t
}

/// The FTS5 query over the bigram tables: each CJK run as the phrase of its bigrams (a single
/// character as a prefix), and `words` (the query's other words, already rendered), all
/// required.
pub fn match_expression(cjk: &[String], words: &str) -> String {
    let mut parts: Vec<String> = cjk
        .iter()
        .map(|run| {
            let chars: Vec<char> = run.chars().collect();
            if chars.len() == 1 {
                format!("\"{run}\"*")
            } else {
                let grams: Vec<String> = chars.windows(2).map(|w| w.iter().collect()).collect();
                format!("\"{}\"", grams.join(" "))
            }
        })
        .collect();
    if !words.is_empty() {
        parts.push(words.to_owned());
    }
    parts.join(" AND ")
}

/// Indexes (or re-indexes) document `id` in the writer's transaction; `seq` 0 is a session's
/// own text. A document whose text has no CJK gets no row.
pub(crate) fn put(tx: &Transaction<'_>, id: i64, seq: u64, text: &str) -> Result<()> {
    let grams = bigrams(text);
    if grams.is_empty() {
        return Ok(());
    }
    let sql = if seq == 0 {
        "INSERT INTO search_cjk_titles (rowid, title) VALUES (?1, ?2)"
    } else {
        "INSERT INTO search_cjk (rowid, body) VALUES (?1, ?2)"
    };
    tx.prepare_cached(sql)
        .and_then(|mut st| st.execute(params![id, grams]))
        .map_err(|e| Error::db("indexing CJK text", e))?;
    Ok(())
}

/// Un-indexes document `id` (`seq` 0: a session's own text).
pub(crate) fn remove(tx: &Transaction<'_>, id: i64, seq: u64) -> Result<()> {
    let sql = if seq == 0 {
        "DELETE FROM search_cjk_titles WHERE rowid = ?1"
    } else {
        "DELETE FROM search_cjk WHERE rowid = ?1"
    };
    tx.prepare_cached(sql)
        .and_then(|mut st| st.execute(params![id]))
        .map_err(|e| Error::db("un-indexing CJK text", e))?;
    Ok(())
}

/// Characters of context kept before the first match in a snippet.
const BEFORE: usize = 16;
/// Characters of a snippet from its first match on.
const WINDOW: usize = 64;

/// A snippet of `text` around the first occurrence of any of `terms` (CJK runs matched
/// exactly, other words case-insensitively as prefixes), with every occurrence inside it
/// between [`MATCH_START`] and [`MATCH_END`], and `…` where it was cut.
pub fn snippet(text: &str, terms: &[String]) -> String {
    let chars: Vec<char> = text.chars().collect();
    let lowered: Vec<char> = chars
        .iter()
        .map(|c| c.to_lowercase().next().unwrap_or(*c))
        .collect();
    let needles: Vec<Vec<char>> = terms
        .iter()
        .map(|t| {
            t.chars()
                .map(|c| c.to_lowercase().next().unwrap_or(c))
                .collect()
        })
        .filter(|n: &Vec<char>| !n.is_empty())
        .collect();
    // Every match, as [start, end) char ranges, in text order.
    let mut marks: Vec<(usize, usize)> = Vec::new();
    // A word of a script with spaces matches at the start of a word and is marked to the
    // word's end (a prefix query found the whole word); a CJK run matches anywhere, as itself.
    let wordy = |c: char| c.is_alphanumeric() && !is_cjk(c);
    let mut i = 0;
    while i < lowered.len() {
        let at_word_start = i == 0 || !wordy(lowered[i - 1]);
        let hit = needles
            .iter()
            .filter(|n| lowered[i..].starts_with(n))
            .filter(|n| at_word_start || !n.first().copied().is_some_and(wordy))
            .map(|n| {
                let mut end = i + n.len();
                if n.last().copied().is_some_and(wordy) {
                    while end < lowered.len() && wordy(lowered[end]) {
                        end += 1;
                    }
                }
                end - i
            })
            .max();
        match hit {
            Some(len) => {
                marks.push((i, i + len));
                i += len;
            }
            None => i += 1,
        }
    }
    let first = marks.first().map(|m| m.0).unwrap_or(0);
    let start = first.saturating_sub(BEFORE);
    let end = (first + WINDOW).min(chars.len());
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    let mut pos = start;
    for &(s, e) in marks.iter().filter(|m| m.0 >= start && m.0 < end) {
        out.extend(&chars[pos..s]);
        out.push(MATCH_START);
        out.extend(&chars[s..e.min(chars.len())]);
        out.push(MATCH_END);
        pos = e;
    }
    if pos < end {
        out.extend(&chars[pos..end]);
    }
    if end < chars.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn runs_become_bigrams_and_their_last_character() {
        assert_eq!(bigrams("東京都に住む"), " 東京 京都 都に に住 住む む ");
        assert_eq!(bigrams("run 日本 now字"), "run  日本 本  now 字 ");
        assert_eq!(bigrams("plain text"), "");
        // The katakana middle dot separates, the prolonged sound mark belongs to the word.
        assert_eq!(bigrams("サーバー・ログ"), " サー ーバ バー ー ・ ログ グ ");
    }

    #[test]
    fn queries_split_by_script() {
        assert_eq!(
            query_terms("deploy 東京へdeploy2, ok"),
            QueryTerms {
                words: vec!["deploy".into(), "deploy2".into(), "ok".into()],
                cjk: vec!["東京へ".into()],
            }
        );
        assert_eq!(
            match_expression(&["東京へ".into(), "字".into()], r#"("deploy")"#),
            r#""東京 京へ" AND "字"* AND ("deploy")"#
        );
        assert_eq!(match_expression(&["東京".into()], ""), r#""東京""#);
    }

    #[test]
    fn snippets_mark_matches_in_the_original_text() {
        assert_eq!(
            snippet("今日は東京で会議があります", &["東京".into()]),
            "今日は\u{2}東京\u{3}で会議があります"
        );
        let long = format!("{}東京{}", "あ".repeat(40), "い".repeat(100));
        let s = snippet(&long, &["東京".into()]);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("\u{2}東京\u{3}"), "{s}");
        assert_eq!(
            snippet("Deploy to 東京 now", &["deploy".into(), "東京".into()]),
            "\u{2}Deploy\u{3} to \u{2}東京\u{3} now"
        );
        // Words: from a word's start only, marked whole.
        assert_eq!(
            snippet("redeploy, then deployment", &["deploy".into()]),
            "redeploy, then \u{2}deployment\u{3}"
        );
    }
}
